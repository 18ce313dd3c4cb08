"""Every NeMo wait stays deferred at least the worker's supervisor heartbeat interval plus min_defer_s."""

from __future__ import annotations

from pathlib import Path

import yaml

from flywheel.airflow.nemo_operator import NemoOperator

ROOT = Path(__file__).resolve().parents[3]


def _operator(tmp_path: Path, min_defer_s: float) -> NemoOperator:
    raw = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    raw.setdefault("platform", {})["min_defer_s"] = min_defer_s
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return NemoOperator(task_id="wait", config_path=str(path))


def test_floor_follows_the_workers_heartbeat_interval(tmp_path, monkeypatch):
    op = _operator(tmp_path, 1.5)
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "5")
    assert op.defer_floor_s() == 6.5
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "1")
    assert op.defer_floor_s() == 2.5


def test_platform_wait_gets_the_configured_poll_settings_and_deadline(tmp_path):
    from flywheel.airflow.triggers import NemoJobTrigger

    op = _operator(tmp_path, 2.0)
    trigger = op.platform_wait(NemoJobTrigger, "eval-1", 1234.0, job_type="evaluation")
    p = op.cfg().platform
    assert trigger.end_time == 1234.0 and trigger.namespace == p.namespace
    assert (trigger.poll_initial_s, trigger.poll_max_s) == (p.poll_initial_s, p.poll_max_s)


def test_a_deferred_wait_fires_no_sooner_than_the_floor_after_deferral(tmp_path, monkeypatch):
    import time

    import pytest
    from airflow.sdk.exceptions import TaskDeferred

    from flywheel.airflow.triggers import NemoJobTrigger

    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "1")
    raw = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    raw.setdefault("platform", {}).update(min_defer_s=2.0, inline_wait_s=0)  # 0: no inline look, defer at once
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    op = NemoOperator(task_id="wait", config_path=str(path))
    trigger = op.platform_wait(NemoJobTrigger, "eval-1", time.time() + 60, job_type="evaluation")
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.wait_for({}, trigger, "done")
    assert deferred.value.trigger is trigger and deferred.value.method_name == "done"
    assert before + 3.0 <= trigger.not_before <= time.time() + 3.0
