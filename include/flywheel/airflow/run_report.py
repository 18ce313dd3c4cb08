"""The per-run report file: the Flywheel page for one run as one self-contained HTML file (charts, script and
style inline, nothing fetched), written to the run's artifact storage ``<base>/<dag_id>/<run_id>/report/``
and opened from the `report` task's "Flywheel report" extra link (served, behind Airflow's login, by the
Flywheel page at ``/flywheel/report``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from airflow.configuration import conf
from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from flywheel.airflow import artifacts
from flywheel.run.models import Report
from flywheel.ui.render import render_page
from flywheel.ui.view import RunReport, workload_view

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig

log = logging.getLogger(__name__)
FOLDER, FILE = "report", "report.html"


class RunReportLink(BaseOperatorLink):
    name = "Flywheel report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""


def report_html(dag_id: str, run_id: str, summary: Report, at: str | None = None) -> str:
    workload = summary.workload_id or dag_id.removeprefix("flywheel_")
    view = workload_view(workload, dag_id, [RunReport(dag_id, run_id, summary, at, "finished")])
    return render_page([view], title=f"Flywheel report — {dag_id} / {run_id}", inline=True)


def page_url(dag_id: str, run_id: str) -> str:
    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/flywheel/report?{urlencode({'dag_id': dag_id, 'run_id': run_id})}"


def publish_run_report(cfg: FlywheelConfig, ti: Any, dag_id: str, run_id: str, summary: Report) -> str | None:
    """Write the run's report file, point the task's extra link at it; returns the file's URI.

    A failure is logged, not raised: the report's XCom (the contract) matters more than its picture.
    """
    try:
        return _publish(cfg, ti, dag_id, run_id, summary)
    except Exception:
        log.exception("could not write the run's report file; the report XCom is unaffected")
        return None


def _publish(cfg: FlywheelConfig, ti: Any, dag_id: str, run_id: str, summary: Report) -> str:
    target = artifacts.run_uri(cfg, dag_id, run_id, FOLDER)
    local = artifacts.local_dir_for(target)
    (local / FILE).write_text(report_html(dag_id, run_id, summary, datetime.now(UTC).isoformat()), encoding="utf-8")
    artifacts.publish(local, target)
    ti.xcom_push(key=RunReportLink().xcom_key, value=page_url(dag_id, run_id))
    log.info("run report: %s/%s", target, FILE)
    return f"{target}/{FILE}"


def read_run_report(cfg: FlywheelConfig, dag_id: str, run_id: str) -> str | None:
    path = artifacts.fetch(artifacts.run_uri(cfg, dag_id, run_id, FOLDER)) / FILE
    return path.read_text(encoding="utf-8") if path.is_file() else None
