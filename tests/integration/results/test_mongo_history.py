"""The page's history from MongoDB: reports stored by the report task's own ``store_in_mongo`` into a
MongoDB-wire-protocol server (``nx-27017``), read back by the page backend through ``flywheel_mongo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.airflow.results import store_in_mongo
from flywheel.airflow.results_page import AirflowBackend, mongo_history
from flywheel.run.models import Report
from flywheel.ui.view import RunReport, workload_view
from tests.support.mongo import mongo_server
from tests.unit.ui.reports import plain_report

pytestmark = pytest.mark.integration
DAG = "flywheel_customer_service"


def test_history_reads_every_stored_run_in_airflow_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mongo, conn = mongo_server(tmp_path)
    conn["extra"] = {"serverSelectionTimeoutMS": 2000}
    monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_MONGO", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(tmp_path / "absent.yaml"))  # defaults: flywheel.results
    reports = {"r-old": plain_report(0.0), "r-mid": plain_report(0.1), "r-new": plain_report(0.2)}
    with mongo:
        # stored out of order: Airflow's runs come in Airflow's order, one Airflow no longer knows after them
        for rid in ("r-old", "r-new", "r-mid"):
            store_in_mongo("flywheel_mongo", "flywheel", "results", DAG, rid, Report.model_validate(reports[rid]))
        airflow_runs = [
            RunReport(DAG, rid, reports[rid], f"2026-01-0{i + 1}T00:00:00+00:00")
            for i, rid in enumerate(("r-mid", "r-new"))
        ]
        history = AirflowBackend().history(DAG, airflow_runs)
        assert [r.run_id for r in history] == ["r-mid", "r-new", "r-old"]
        stored = [r.report.stored_json()["results"] for r in history]
        assert stored == [reports[r]["results"] for r in ("r-mid", "r-new", "r-old")]
        series = workload_view("customer_service", DAG, history).history
        assert all(len(s["points"]) == 3 for s in series) and series
        assert mongo_history("flywheel_mongo", "flywheel_other", []) == []
    # the store is gone: the page falls back to Airflow's own runs instead of failing
    assert AirflowBackend().history(DAG, airflow_runs) == airflow_runs
