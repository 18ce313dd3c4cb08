"""NemoWaitTrigger against the running emulator: an outage shorter than the deadline is waited out, a
longer one ends in a timeout at the absolute deadline, and on_kill of a deployment wait deletes only this
run's candidate deployment."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from flywheel.airflow.triggers import NemoWaitTrigger
from flywheel.config import NimConfig

from .conftest import Emulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
OWNER = "flywheel_t/run-1"


@pytest.fixture
def conn(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    extra = json.dumps({"nim_url": emulator.url, "namespace": "dfwbp"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIGGERTEST", json.dumps({"conn_type": "http", "host": emulator.url, "extra": extra})
    )
    return "triggertest"


def wait(conn: str, kind: str, ref: str, **kw: Any) -> dict[str, Any]:
    trigger = NemoWaitTrigger(
        kind=kind, ref=ref, conn_id=conn, namespace="dfwbp", poll_initial_s=0.2, poll_max_s=0.5, max_retries=0, **kw
    )

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def test_an_outage_shorter_than_the_deadline_is_waited_out(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "http_error", "endpoint": "deployments.get", "status": 503, "for_s": 2}])
    started = time.monotonic()
    event = wait(conn, "deployment_gone", "never-deployed", end_time=time.time() + 30)
    assert event["status"] == "success", event
    assert time.monotonic() - started >= 2


def test_an_outage_past_the_deadline_times_out_at_the_deadline(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "http_error", "endpoint": "deployments.get", "status": 503}])
    started = time.monotonic()
    event = wait(conn, "deployment_gone", "never-deployed", end_time=time.time() + 2)
    assert event["status"] == "timeout" and "deadline" in event["detail"], event
    assert 1.5 <= time.monotonic() - started <= 10


def test_the_platform_saying_failed_ends_the_wait_with_its_message(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "job_failure", "job": "deployment", "message": "ImagePullBackOff: bad tag"}])
    with emulator.client() as c:
        c.create_deployment(NimConfig(model_name="meta/llama-3.2-1b-instruct"), {"flywheel_role": "candidate"})
    event = wait(conn, "deployment_ready", "meta-llama-3.2-1b-instruct", end_time=time.time() + 30)
    assert event["status"] == "failed" and "ImagePullBackOff" in str(event["detail"]), event


def test_on_kill_deletes_only_this_runs_candidate(emulator: Emulator, conn: str) -> None:
    small, large = (
        NimConfig(model_name="meta/llama-3.2-1b-instruct"),
        NimConfig(model_name="meta/llama-3.2-3b-instruct"),
    )
    with emulator.client() as c:
        c.create_deployment(small, {"flywheel_role": "candidate", "flywheel_run": OWNER})
        c.create_deployment(large, {"flywheel_role": "judge"})
        for nim in (small, large):
            trigger = NemoWaitTrigger(
                kind="deployment_ready", ref=nim.deployment_name, conn_id=conn, namespace="dfwbp", owner=OWNER
            )
            asyncio.run(trigger.on_kill())
        assert c.get_deployment(small.deployment_name) is None
        assert c.get_deployment(large.deployment_name) is not None


def test_a_same_named_deployment_of_someone_else_does_not_hold_a_gone_wait(emulator: Emulator, conn: str) -> None:
    # our candidate was deleted and a shared NIM of the same name appeared: the teardown's wait is over
    with emulator.client() as c:
        c.create_deployment(NimConfig(model_name="meta/llama-3.2-1b-instruct"), {"flywheel_role": "judge"})
    event = wait(conn, "deployment_gone", "meta-llama-3.2-1b-instruct", end_time=time.time() + 5, owner=OWNER)
    assert event["status"] == "success", event
