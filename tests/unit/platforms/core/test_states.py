"""Status sets per object kind, parsing of platform status bodies, and coverage of the SDK's JobStatus."""

from __future__ import annotations

import logging
import typing

import pytest

from flywheel.platforms.core.errors import NemoResponseError
from flywheel.platforms.core.states import (
    DEPLOYMENT_ACTIVE,
    DEPLOYMENT_FAILED,
    DEPLOYMENT_SUCCEEDED,
    JOB_ACTIVE,
    JOB_FAILED,
    JOB_SUCCEEDED,
    DeploymentInfo,
    JobState,
)


def deployment(status: str, **extra: object) -> DeploymentInfo:
    return DeploymentInfo.from_raw(
        {
            "name": "m",
            "namespace": "ns",
            "status_details": {"status": status, **extra},
            "custom_fields": {"flywheel_role": "candidate", "n": 1},
        }
    )


def test_every_sdk_job_status_is_classified() -> None:
    from nemo_microservices.types.shared.job_status import JobStatus

    known = set(typing.get_args(JobStatus))
    assert known <= JOB_SUCCEEDED | JOB_FAILED | JOB_ACTIVE
    assert known <= DEPLOYMENT_SUCCEEDED | DEPLOYMENT_FAILED | DEPLOYMENT_ACTIVE
    assert not (JOB_SUCCEEDED & JOB_FAILED) and not (JOB_ACTIVE & (JOB_SUCCEEDED | JOB_FAILED))
    assert not (DEPLOYMENT_ACTIVE & (DEPLOYMENT_SUCCEEDED | DEPLOYMENT_FAILED))


@pytest.mark.parametrize(
    ("status", "ready", "failed"),
    [
        ("ready", True, False),
        ("failed", False, True),
        ("error", False, True),
        ("cancelled", False, True),
        ("pending", False, False),
        ("created", False, False),
        ("running", False, False),
        ("cancelling", False, False),
    ],
)
def test_deployment_states(status: str, ready: bool, failed: bool) -> None:
    """Reference defect §16.3: a failed deployment is terminal at once."""
    info = deployment(status)
    assert (info.is_ready, info.is_failed, info.is_terminal) == (ready, failed, ready or failed)
    assert info.custom_fields == {"flywheel_role": "candidate", "n": "1"}


def test_unknown_deployment_status_is_not_terminal_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Reference defect §16.4: an unexpected status must not crash the wait."""
    with caplog.at_level(logging.WARNING, logger="flywheel.nemo"):
        info = deployment("deploying")
    assert not info.is_terminal
    assert "unknown status 'deploying'" in caplog.text


def test_deployment_without_status_is_a_response_error() -> None:
    with pytest.raises(NemoResponseError, match="no status"):
        DeploymentInfo.from_raw({"name": "m", "namespace": "ns"})


@pytest.mark.parametrize(
    ("status", "terminal", "ok"),
    [
        ("created", False, False),
        ("pending", False, False),
        ("running", False, False),
        ("completed", True, True),
        ("failed", True, False),
        ("error", True, False),
        ("cancelled", True, False),
        ("cancelling", False, False),
    ],
)
def test_evaluation_states(status: str, terminal: bool, ok: bool) -> None:
    """Reference defect §16.5: ``pending`` is a queue, not a failure."""
    state = JobState.from_evaluation({"status": status, "status_details": {"progress": 42.0, "message": "m"}})
    assert (state.terminal, state.succeeded) == (terminal, ok)
    assert state.progress == (100.0 if ok else 42.0)


def test_evaluation_failure_detail_and_progress_bounds() -> None:
    failed = JobState.from_evaluation({"status": "failed", "status_details": {"message": "inference errors"}})
    assert failed.detail == "inference errors" and failed.progress is None
    silent = JobState.from_evaluation({"status": "failed"})
    assert silent.detail == "evaluation failed"
    assert JobState.from_evaluation({"status": "running", "status_details": {"progress": 250}}).progress == 100.0
    assert JobState.from_evaluation({"status": "RUNNING", "status_details": {"progress": "x"}}).status == "running"


def test_customization_states_and_failure_detail() -> None:
    running = JobState.from_customization(
        {
            "status": "running",
            "percentage_done": 37.5,
            "status_logs": [{"message": "created"}, {"message": "Training started"}],
        }
    )
    assert (running.terminal, running.progress, running.detail) == (False, 37.5, "Training started")
    failed = JobState.from_customization(
        {
            "status": "failed",
            "percentage_done": 50,
            "status_logs": [
                {"message": "running", "detail": "epoch 1"},
                {"message": "Training failed", "detail": "CUDA OOM"},
                {"message": "cleanup"},
            ],
        }
    )
    assert (failed.terminal, failed.succeeded, failed.detail) == (True, False, "CUDA OOM")
    nested = JobState.from_customization(
        {"id": "c", "status": "completed", "status_details": {"status": "completed", "percentage_done": 100}}
    )
    assert nested.succeeded and nested.progress == 100.0


def test_unknown_job_status_is_not_terminal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flywheel.nemo"):
        state = JobState.from_customization({"status": "paused"})
    assert not state.terminal and "unknown status 'paused'" in caplog.text


def test_states_compare_and_hash_without_the_raw_body() -> None:
    a = DeploymentInfo.from_raw(
        {"name": "m", "namespace": "ns", "status_details": {"status": "ready"}, "updated_at": "t1"}
    )
    b = DeploymentInfo.from_raw(
        {"name": "m", "namespace": "ns", "status_details": {"status": "ready"}, "updated_at": "t2"}
    )
    assert a == b and len({a, b}) == 1
    j = JobState.from_customization({"status": "completed", "percentage_done": None})
    assert j.progress == 100.0 and hash(j) == hash(JobState.from_customization({"status": "completed"}))
