"""The Flywheel page's Airflow side: who the user is (Airflow's own JWT, from the bearer header or the UI's
``_token`` cookie, validated by the configured auth manager), which flywheel DAGs they may read, and the
`report` XComs (plus `approve_promotion` decisions) from Airflow's metadata database. History comes from
MongoDB when a ``flywheel_mongo`` connection exists, else from the same XComs.

Runs inside the api-server only; everything Airflow is imported on first use, not at plugin import.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import ValidationError

from flywheel.config import load_config
from flywheel.run import spec
from flywheel.run.models import Decision, Report
from flywheel.ui.app import create_app
from flywheel.ui.serving import ServingState
from flywheel.ui.view import RunReport

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

log = logging.getLogger(__name__)
FLYWHEEL_PREFIX = "flywheel_"
CONFIG_ERRORS_DAG = "flywheel_config_errors"


def _xcom_value(raw: Any) -> Any:
    from airflow.models.xcom import XComModel

    class _Row:
        value = raw

    value = XComModel.deserialize_value(_Row)
    if isinstance(value, str):  # stored as a JSON string by some XCom paths
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


class AirflowBackend:
    async def authenticate(self, request: Request) -> Any:
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
        from airflow.api_fastapi.core_api.security import resolve_user_from_token

        header = request.headers.get("authorization") or ""
        scheme, _, credential = header.partition(" ")
        token = credential.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        return await resolve_user_from_token(token)  # 401 without/expired token, 403 for an invalid one

    def dag_ids(self, user: Any) -> list[str]:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ids = session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.startswith(FLYWHEEL_PREFIX))).all()
        manager = get_auth_manager()
        return [
            d
            for d in ids
            if d != CONFIG_ERRORS_DAG
            and manager.is_authorized_dag(
                method="GET", access_entity=DagAccessEntity.XCOM, details=DagDetails(id=d), user=user
            )
        ]

    def runs(self, dag_id: str) -> list[RunReport]:
        from airflow.models.dagrun import DagRun
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        def xcoms(task_id: str, key: str) -> Any:
            return (
                select(XComModel.run_id, XComModel.value, DagRun.start_date, DagRun.state)
                .join(DagRun, XComModel.dag_run_id == DagRun.id)
                .where(XComModel.dag_id == dag_id, XComModel.task_id == task_id, XComModel.key == key)
                .where(XComModel.map_index == -1)
                .order_by(DagRun.run_after, DagRun.id)
            )

        with create_session() as session:
            reports = session.execute(xcoms(spec.REPORT, spec.RETURN)).all()
            decisions = {r.run_id: r.value for r in session.execute(xcoms(spec.APPROVE, spec.DECISION_KEY)).all()}
        out = []
        for r in reports:
            decision = _xcom_value(decisions[r.run_id]) if r.run_id in decisions else None
            run = _run_report(dag_id, r.run_id, _xcom_value(r.value), _iso(r.start_date), str(r.state), decision)
            if run is not None:
                out.append(run)
        return out

    def history(self, dag_id: str, runs: list[RunReport]) -> list[RunReport]:
        from flywheel.airflow.connections import MONGO_CONN

        if _connection(MONGO_CONN) is None:
            return runs
        try:
            return mongo_history(MONGO_CONN, dag_id, runs)
        except Exception:  # the page still shows Airflow's history when the results store is down
            log.exception("reading the flywheel history from MongoDB failed; showing Airflow's runs instead")
            return runs

    def airflow_base(self) -> str:

        from airflow.configuration import conf

        return urlparse(conf.get("api", "base_url", fallback="/") or "/").path.rstrip("/")

    def login_url(self, next_url: str) -> str | None:
        from airflow.api_fastapi.app import get_auth_manager

        try:
            return get_auth_manager().get_url_login(next_url=next_url)
        except Exception:
            return None

    def run_report(self, dag_id: str, run_id: str) -> str | None:
        from flywheel.airflow.run_report import read_run_report

        return read_run_report(load_config(), dag_id, run_id)

    def serving(self, workload_id: str) -> ServingState:
        from flywheel.airflow.serving_page import read_serving

        return read_serving(workload_id)


def _run_report(
    dag_id: str, run_id: str, report: object, at: str | None, state: str | None = None, decision: object = None
) -> RunReport | None:
    """A stored report as the page reads it; one that is not a report is left out (and logged)."""
    if not isinstance(report, dict):
        return None
    try:
        read = Report.model_validate(report)
    except ValidationError as exc:
        log.warning("run %s of %s: its stored report is not readable, left out: %s", run_id, dag_id, exc)
        return None
    try:
        known = Decision.model_validate(decision) if isinstance(decision, dict) else None
    except ValidationError as exc:
        log.warning("run %s of %s: its stored decision is not readable, not shown: %s", run_id, dag_id, exc)
        known = None
    return RunReport(dag_id, run_id, read, at, state, known)


def _connection(conn_id: str) -> Any | None:
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # AirflowNotFoundException moved between 3.x modules
        if type(exc).__name__.endswith("NotFoundException") or "isn't defined" in str(exc):
            return None
        raise


def mongo_history(conn_id: str, dag_id: str, runs: list[RunReport]) -> list[RunReport]:
    """Each run summary stored in ``<collection>_runs``: the runs Airflow knows in its order, then the ones it no
    longer knows (e.g. pruned metadata) by storage time."""
    from airflow.providers.mongo.hooks.mongo import MongoHook

    try:
        cfg = load_config().results
        database, collection = cfg.mongo_database, cfg.mongo_collection
    except Exception:
        database, collection = "flywheel", "results"
    client = MongoHook(mongo_conn_id=conn_id).get_conn()
    docs = list(client[database][f"{collection}_runs"].find({"dag_id": dag_id}))
    known = {r.run_id: (i, r) for i, r in enumerate(runs)}
    docs.sort(key=lambda d: (known.get(d["run_id"], (len(runs), None))[0], d["_id"].generation_time))
    out = []
    for d in docs:
        summary = {k: v for k, v in d.items() if k not in ("_id", "dag_id", "run_id")}
        at = known[d["run_id"]][1].start_date if d["run_id"] in known else d["_id"].generation_time.isoformat()
        run = _run_report(dag_id, d["run_id"], summary, at)
        if run is not None:
            out.append(run)
    return out


def build_app() -> FastAPI:
    return create_app(AirflowBackend())
