"""The answer guard's decision for one HITL answer, and the order of reports that supersede an approval
(the whole path runs under a real scheduler in tests/integration/airflow/test_decision.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flywheel.airflow.answer_guard import Seen, verdict
from flywheel.airflow.approval_wait import newer_than
from flywheel.run.models import RunRef

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def waiting(paused_s_ago: float, **kw: object) -> Seen:
    fields = {
        "exists": True,
        "ti_state": "deferred",
        "run_state": "running",
        "paused_at": NOW - timedelta(seconds=paused_s_ago),
    }
    return Seen(**{**fields, **kw})  # type: ignore[arg-type]


def test_an_answer_right_after_the_pause_is_held_until_the_pause_is_old_enough() -> None:
    action, left = verdict(waiting(1.0), NOW.timestamp(), 6.0)
    assert action == "wait" and abs(left - 5.0) < 1e-6
    assert verdict(waiting(6.5), NOW.timestamp(), 6.0) == ("pass", None)


def test_an_answer_before_the_pause_waits_for_it_and_one_after_a_resume_is_refused() -> None:
    assert verdict(waiting(0, ti_state="running", resumed=False), NOW.timestamp(), 6.0)[0] == "wait"
    action, why = verdict(waiting(0, ti_state="scheduled", resumed=True), NOW.timestamp(), 6.0)
    assert action == "refuse" and "the task is scheduled" in why


def test_closed_requests_are_refused_with_the_reason() -> None:
    assert verdict(waiting(60, answered_by="admin at 03:00"), NOW.timestamp(), 6.0) == (
        "refuse",
        "already answered by admin at 03:00: this answer was not applied",
    )
    action, why = verdict(waiting(60, ti_state="failed", run_state="failed"), NOW.timestamp(), 6.0)
    assert action == "refuse" and why.startswith("the run is failed")
    action, why = verdict(waiting(60, ti_state="success"), NOW.timestamp(), 6.0)
    assert action == "refuse" and why.startswith("the task is success")
    assert verdict(Seen(exists=False), NOW.timestamp(), 6.0) == ("pass", None)  # Airflow's own 404


def test_only_a_newer_run_supersedes() -> None:
    def run(run_id: str, at: str) -> RunRef:
        return RunRef(dag_id="flywheel_w", run_id=run_id, run_after=f"2026-12-07T{at}:00+00:00")

    mine = run("b", "03:00")
    assert newer_than(run("c", "03:05"), mine)
    assert not newer_than(run("a", "02:55"), mine)
    assert not newer_than(run("b", "03:00"), mine)
    assert not newer_than(None, mine)
