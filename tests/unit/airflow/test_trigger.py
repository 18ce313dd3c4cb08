"""The per-resource NeMo wait triggers serialise to what they need, and back off within bounds."""

from __future__ import annotations

import asyncio
import time

import pytest

from flywheel.airflow.triggers import (
    DeploymentGoneTrigger,
    DeploymentReadyTrigger,
    ModelSyncTrigger,
    NemoJobTrigger,
)

COMMON = {
    "conn_id": "flywheel_nemo",
    "namespace": "ns",
    "platform_kind": "helix",
    "end_time": 1234.5,
    "poll_initial_s": 1,
    "poll_max_s": 9,
}
SHORT = {"conn_id": "c", "namespace": "n", "end_time": 0, "platform_kind": "nmp"}


@pytest.mark.parametrize(
    ("cls", "own"),
    [
        (DeploymentReadyTrigger, {"model_id": "meta/x", "owner": "dag/run", "pending_timeout_s": 7.0}),
        (DeploymentGoneTrigger, {"owner": "dag/run"}),
        (NemoJobTrigger, {"job_type": "customization"}),
        (NemoJobTrigger, {"job_type": "evaluation"}),
        (ModelSyncTrigger, {}),
    ],
)
def test_serialize_round_trip(cls, own):
    t = cls(ref="obj-1", **COMMON, **own)
    path, kwargs = t.serialize()
    assert path == f"flywheel.airflow.triggers.{cls.__name__}"
    assert kwargs["end_time"] == 1234.5 and kwargs["ref"] == "obj-1" and kwargs["platform_kind"] == "helix"
    assert {k: kwargs[k] for k in own} == own
    again = cls(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert "api_key" not in kwargs and "password" not in str(kwargs)


def test_unknown_job_type_is_refused():
    with pytest.raises(ValueError, match="unknown job type"):
        NemoJobTrigger(job_type="coffee", ref="x", **SHORT)


def test_the_event_kind_names_the_resource():
    assert NemoJobTrigger(job_type="evaluation", ref="e", **SHORT).kind == "evaluation"
    assert DeploymentReadyTrigger(ref="d", **SHORT).kind == "deployment_ready"


def test_trigger_backoff_follows_its_poll_settings():
    t = ModelSyncTrigger(ref="m", **SHORT, poll_initial_s=2, poll_max_s=8)
    b = t._backoff("seed")
    delays = [b.next() for _ in range(12)]
    assert 2 * 0.85 <= delays[0] <= 2 * 1.15 and max(delays) <= 8 and delays[-1] >= 8 * 0.85


def test_no_event_before_not_before_even_when_the_wait_fails_at_once():
    """The floor holds on every path: here the connection does not exist, so the wait fails immediately."""
    not_before = time.time() + 0.6
    t = NemoJobTrigger(
        job_type="evaluation",
        ref="e-1",
        conn_id="no_such_connection",
        namespace="n",
        end_time=time.time() + 60,
        not_before=not_before,
        platform_kind="nmp",
    )

    async def first_event() -> dict:
        async for event in t.run():
            return event.payload
        raise AssertionError("no event")

    payload = asyncio.run(first_event())
    assert time.time() >= not_before
    assert payload["status"] == "failed" and payload["ref"] == "e-1" and payload["kind"] == "evaluation"
