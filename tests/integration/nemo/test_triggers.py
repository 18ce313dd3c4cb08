"""The per-resource wait triggers against the running emulator, one test per outcome: the object ready /
completed, the platform saying it failed, the absolute deadline passing, an outage waited out; plus
``on_kill`` (cancel the job, delete only this run's candidate) and ``check_once`` (the operator's inline
look before deferring)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from flywheel.airflow.triggers import (
    DeploymentGoneTrigger,
    DeploymentReadyTrigger,
    ModelSyncTrigger,
    NemoJobTrigger,
    PlatformWaitTrigger,
)
from flywheel.config import NimConfig
from flywheel.platforms.core.configs import evaluation_config, evaluation_target

from .conftest import Emulator
from .records import tool_record
from .test_client_emulator import NIM, customize, deploy, upload
from .waits import wait_deployment_ready, wait_model_served

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
OWNER = "flywheel_t/run-1"
MARK = {"flywheel_role": "candidate", "flywheel_run": OWNER}


@pytest.fixture
def conn(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    extra = json.dumps({"nim_url": emulator.url, "namespace": "dfwbp"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIGGERTEST", json.dumps({"conn_type": "http", "host": emulator.url, "extra": extra})
    )
    return "triggertest"


def make(cls: type[PlatformWaitTrigger], conn: str, ref: str, deadline_s: float = 30, **kw: Any) -> Any:
    return cls(
        ref=ref,
        conn_id=conn,
        namespace="dfwbp",
        end_time=time.time() + deadline_s,
        poll_initial_s=0.2,
        poll_max_s=0.5,
        max_retries=0,
        **{"platform_kind": "nmp", **kw},
    )


def fire(trigger: PlatformWaitTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def evaluation(emulator: Emulator, tmp_path: Path) -> str:
    with emulator.client() as c:
        deploy(c)
        urls = upload(c, tmp_path, tool_record, "trig")
        config = evaluation_config("tool_calling", f"{urls['eval']}/eval_data.jsonl", None, 5)
        return c.create_evaluation(config, evaluation_target(NIM.model_name))


# ------------------------------------------------------------------------------------ DeploymentReadyTrigger
def test_deployment_ready_fires_once_ready_and_served(emulator: Emulator, conn: str) -> None:
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
    event = fire(make(DeploymentReadyTrigger, conn, NIM.deployment_name, model_id=NIM.model_name, owner=OWNER))
    assert event["status"] == "success" and event["kind"] == "deployment_ready", event
    assert event["ref"] == NIM.deployment_name and event["polls"] >= 1


def test_deployment_ready_check_once_is_none_while_pending_and_the_event_once_served(
    emulator: Emulator, conn: str
) -> None:
    trigger = make(DeploymentReadyTrigger, conn, NIM.deployment_name, model_id=NIM.model_name)
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
        assert asyncio.run(trigger.check_once(c)) is None
        wait_deployment_ready(c, NIM.deployment_name, timeout_s=20, pending_limit_s=10)
        wait_model_served(c, NIM.model_name, timeout_s=10)
        event = asyncio.run(trigger.check_once(c))
    assert event is not None and event["status"] == "success" and event["ref"] == NIM.deployment_name, event


def test_deployment_the_platform_says_failed_ends_the_wait_with_its_message(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "job_failure", "job": "deployment", "message": "ImagePullBackOff: bad tag"}])
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
    event = fire(make(DeploymentReadyTrigger, conn, NIM.deployment_name))
    assert event["status"] == "failed" and "ImagePullBackOff" in str(event["detail"]), event


def test_a_stuck_deployment_times_out_at_the_absolute_deadline(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "stuck", "job": "deployment"}])
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
    started = time.monotonic()
    event = fire(make(DeploymentReadyTrigger, conn, NIM.deployment_name, deadline_s=2))
    assert event["status"] == "timeout" and "deadline" in event["detail"] and event["state"] == "pending", event
    assert 1.5 <= time.monotonic() - started <= 10


def test_deployment_ready_waits_out_an_outage_of_its_status_reads(emulator: Emulator, conn: str) -> None:
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
    emulator.set_faults([{"kind": "http_error", "endpoint": "deployments.get", "status": 503, "for_s": 2}])
    started = time.monotonic()
    event = fire(make(DeploymentReadyTrigger, conn, NIM.deployment_name, model_id=NIM.model_name))
    assert event["status"] == "success", event
    assert time.monotonic() - started >= 2


def test_on_kill_deletes_only_this_runs_candidate(emulator: Emulator, conn: str) -> None:
    small, large = NIM, NimConfig(model_name="meta/llama-3.2-3b-instruct")
    with emulator.client() as c:
        c.create_deployment(small, MARK)
        c.create_deployment(large, {"flywheel_role": "judge"})
        for nim in (small, large):
            asyncio.run(make(DeploymentReadyTrigger, conn, nim.deployment_name, owner=OWNER).on_kill())
        assert c.get_deployment(small.deployment_name) is None
        assert c.get_deployment(large.deployment_name) is not None


# ------------------------------------------------------------------------------------- DeploymentGoneTrigger
def test_deployment_gone_fires_once_deleted(emulator: Emulator, conn: str) -> None:
    with emulator.client() as c:
        c.create_deployment(NIM, MARK)
        c.delete_deployment(NIM.deployment_name)
    event = fire(make(DeploymentGoneTrigger, conn, NIM.deployment_name, owner=OWNER))
    assert event["status"] == "success" and event["state"] == "deleted", event


def test_an_outage_shorter_than_the_deadline_is_waited_out(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "http_error", "endpoint": "deployments.get", "status": 503, "for_s": 2}])
    started = time.monotonic()
    event = fire(make(DeploymentGoneTrigger, conn, "never-deployed"))
    assert event["status"] == "success", event
    assert time.monotonic() - started >= 2


def test_an_outage_past_the_deadline_times_out_at_the_deadline(emulator: Emulator, conn: str) -> None:
    emulator.set_faults([{"kind": "http_error", "endpoint": "deployments.get", "status": 503}])
    started = time.monotonic()
    event = fire(make(DeploymentGoneTrigger, conn, "never-deployed", deadline_s=2))
    assert event["status"] == "timeout" and "deadline" in event["detail"], event
    assert 1.5 <= time.monotonic() - started <= 10


def test_a_same_named_deployment_of_someone_else_does_not_hold_a_gone_wait(emulator: Emulator, conn: str) -> None:
    # our candidate was deleted and a shared NIM of the same name appeared: the teardown's wait is over
    with emulator.client() as c:
        c.create_deployment(NIM, {"flywheel_role": "judge"})
    event = fire(make(DeploymentGoneTrigger, conn, NIM.deployment_name, deadline_s=5, owner=OWNER))
    assert event["status"] == "success", event


# -------------------------------------------------------------------------------- NemoJobTrigger, ModelSync
def test_customization_completes_then_its_model_syncs(emulator: Emulator, conn: str, tmp_path: Path) -> None:
    with emulator.client() as c:
        deploy(c)  # the adapter is served by its base model's NIM
        upload(c, tmp_path, tool_record, "tc")
        job_id, output_model = customize(c, "tc")
    event = fire(make(NemoJobTrigger, conn, job_id, job_type="customization"))
    assert event["status"] == "success" and event["kind"] == "customization" and event["state"] == "completed"
    synced = fire(make(ModelSyncTrigger, conn, output_model))
    assert synced["status"] == "success" and synced["state"] == "synced", synced


def test_customization_the_platform_fails_ends_with_its_message(emulator: Emulator, conn: str, tmp_path: Path) -> None:
    emulator.set_faults([{"kind": "job_failure", "job": "customization", "message": "CUDA out of memory"}])
    with emulator.client() as c:
        upload(c, tmp_path, tool_record, "tc")
        job_id, _ = customize(c, "tc")
    event = fire(make(NemoJobTrigger, conn, job_id, job_type="customization"))
    assert event["status"] == "failed" and "CUDA out of memory" in str(event["detail"]), event


def test_a_stuck_customization_times_out_at_the_deadline_and_on_kill_cancels_it(
    emulator: Emulator, conn: str, tmp_path: Path
) -> None:
    emulator.set_faults([{"kind": "stuck", "job": "customization"}])
    with emulator.client() as c:
        upload(c, tmp_path, tool_record, "tc")
        job_id, _ = customize(c, "tc")
        trigger = make(NemoJobTrigger, conn, job_id, deadline_s=2, job_type="customization")
        event = fire(trigger)
        assert event["status"] == "timeout" and "deadline" in event["detail"], event
        asyncio.run(trigger.on_kill())
        assert c.get_customization(job_id).status == "cancelled"


def test_evaluation_completes_and_waits_out_an_outage(emulator: Emulator, conn: str, tmp_path: Path) -> None:
    job_id = evaluation(emulator, tmp_path)
    emulator.set_faults([{"kind": "http_error", "endpoint": "evaluation.*", "status": 503, "for_s": 2}])
    started = time.monotonic()
    event = fire(make(NemoJobTrigger, conn, job_id, job_type="evaluation"))
    assert event["status"] == "success" and event["kind"] == "evaluation", event
    assert time.monotonic() - started >= 2


def test_evaluation_the_platform_fails_ends_with_its_message(emulator: Emulator, conn: str, tmp_path: Path) -> None:
    emulator.set_faults([{"kind": "job_failure", "job": "evaluation", "message": "judge unreachable"}])
    job_id = evaluation(emulator, tmp_path)
    event = fire(make(NemoJobTrigger, conn, job_id, job_type="evaluation"))
    assert event["status"] == "failed" and "judge unreachable" in str(event["detail"]), event


def test_a_model_that_never_syncs_times_out_at_the_deadline(emulator: Emulator, conn: str) -> None:
    started = time.monotonic()
    event = fire(make(ModelSyncTrigger, conn, "dfwbp/never-trained@x", deadline_s=2))
    assert event["status"] == "timeout" and event["state"] == "not-synced", event
    assert 1.5 <= time.monotonic() - started <= 10


def test_check_once_turns_an_unusable_answer_into_a_failed_event(emulator: Emulator, conn: str) -> None:
    # a job the platform does not know (404) is an answer, not an outage: the operator records the failure
    trigger = make(NemoJobTrigger, conn, "cust-does-not-exist", job_type="customization")
    with emulator.client() as c:
        event = asyncio.run(trigger.check_once(c))
    assert event is not None and event["status"] == "failed" and "NotFound" in event["detail"], event
