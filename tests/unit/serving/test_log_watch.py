"""The log watcher's decision and its serialization (the triggerer re-creates it from these kwargs)."""

from __future__ import annotations

from flywheel.airflow.log_watch import LogWatchTrigger, decide, trigger_reason
from flywheel.config import validate_config


def test_decide() -> None:
    assert decide(10, None, None, 10, 0.2, 60) == "new_records"
    assert decide(9, None, None, 10, 0.2, 60) is None
    assert decide(10, None, 30, 10, 0.2, 60) is None  # within min_interval of the last event
    assert decide(10, None, 61, 10, 0.2, 60) == "new_records"
    assert decide(5, 0.5, None, 10, 0.2, 60) == "label_drift"  # at least half of min_new_records
    assert decide(4, 0.9, None, 10, 0.2, 60) is None
    assert decide(5, 0.5, None, 10, None, 60) is None  # drift off


def test_trigger_round_trips_through_serialize() -> None:
    t = LogWatchTrigger("w", "file", 10, 60.0, 5.0, 0.3, path="/x.jsonl", client_id="c")
    path, kwargs = t.serialize()
    assert path == "flywheel.airflow.log_watch.LogWatchTrigger"
    assert LogWatchTrigger(**kwargs).serialize() == (path, kwargs)


def test_log_asset_and_schedule() -> None:
    from airflow.sdk import Asset, AssetOrTimeSchedule

    from flywheel.airflow.log_watch import log_asset, schedule_for

    cfg = validate_config(
        {
            "log_source": {"kind": "file", "path": "/logs.jsonl"},
            "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
            "workloads": [
                {"workload_id": "w", "schedule": "@daily", "trigger": {"min_new_records": 3}},
                {"workload_id": "v", "schedule": None, "trigger": {}},
                {"workload_id": "u"},
            ],
        }
    )
    w, v, u = cfg.workloads
    asset = log_asset(cfg, w)
    assert isinstance(asset, Asset) and asset.uri == "flywheel://logs/w" and len(asset.watchers) == 1
    assert isinstance(schedule_for(cfg, w), AssetOrTimeSchedule)
    assert isinstance(schedule_for(cfg, v), Asset)
    assert schedule_for(cfg, u) == "@weekly"


def test_trigger_reason() -> None:
    from types import SimpleNamespace

    payload = {"reason": "new_records", "records_since": 12, "drift": 0.1}
    ev = SimpleNamespace(extra={"from_trigger": True, "payload": payload})

    class Run:
        run_type = "asset_triggered"

    got = trigger_reason({"dag_run": Run(), "triggering_asset_events": {"flywheel://logs/w": [ev]}}, "w")
    assert got == {
        "started_by": "log_watch",
        "asset": "flywheel://logs/w",
        "reason": "new_records",
        "records_since": 12,
        "drift": 0.1,
    }
    assert trigger_reason({"dag_run": Run(), "triggering_asset_events": {}}, "w") == {"started_by": "asset_triggered"}
