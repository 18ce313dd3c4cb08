"""The workload DAGs' schedule (docs/loop.md): cron, cron OR the watched log asset, or the asset alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from airflow.sdk import Asset, AssetOrTimeSchedule

from flywheel.airflow.dag_factory import build_all
from flywheel.airflow.log_watch import LogWatchTrigger, logs_uri


def workload(wid: str, schedule: str | None, trigger: bool) -> dict[str, object]:
    entry: dict[str, object] = {"workload_id": wid, "schedule": schedule}
    if trigger:
        entry["trigger"] = {"min_new_records": 20, "min_interval": 60, "poll_s": 5}
    return entry


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp: Path = tmp_path_factory.mktemp("schedule")
    cfg = {
        "log_source": {"kind": "file", "path": str(tmp / "logs.jsonl")},
        "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
        "workloads": [
            workload("cron_only", "@daily", trigger=False),
            workload("cron_or_logs", "@daily", trigger=True),
            workload("logs_only", None, trigger=True),
        ],
    }
    path = tmp / "flywheel.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return build_all(str(path))


def assets_of(dag) -> list[Asset]:
    cond = dag.timetable.asset_condition
    if cond is None:
        return []
    return [cond] if isinstance(cond, Asset) else [a for _, a in cond.iter_assets()]


def watcher(asset: Asset) -> LogWatchTrigger:
    (w,) = asset.watchers
    assert isinstance(w.trigger, LogWatchTrigger)
    return w.trigger


def test_without_trigger_the_cron_alone(dags):
    dag = dags["flywheel_cron_only"]
    assert dag.schedule == "@daily"
    assert assets_of(dag) == []


def test_trigger_and_cron_schedule_on_either(dags):
    dag = dags["flywheel_cron_or_logs"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    (asset,) = assets_of(dag)
    assert asset.uri == logs_uri("cron_or_logs")
    trig = watcher(asset)
    assert (trig.workload_id, trig.min_new_records, trig.min_interval_s, trig.poll_s) == ("cron_or_logs", 20, 60, 5)


def test_trigger_without_cron_schedules_on_the_log_asset_only(dags):
    dag = dags["flywheel_logs_only"]
    assert not isinstance(dag.timetable, AssetOrTimeSchedule)
    (asset,) = assets_of(dag)
    assert asset.uri == "flywheel://logs/logs_only"
    assert watcher(asset).workload_id == "logs_only"
