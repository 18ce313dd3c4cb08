"""The Flywheel page's serving state, read from what ``flywheel_rollout`` writes (docs/loop.md#the-page): the
route from the serving target (routing file or ConfigMap), the rollouts from MongoDB ``rollouts`` when a
``flywheel_mongo`` connection exists, else rebuilt from the rollout DAG's XComs. Runs inside the api-server;
Airflow is imported on first use.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from flywheel.config import load_config
from flywheel.serving.routing import Route
from flywheel.ui.serving import Rollout, RolloutStep, ServingState, serving_state

log = logging.getLogger(__name__)
RUN_STATE = {"success": "done", "failed": "failed", "running": "running", "queued": "running"}
NEWEST = 20  # rollouts read per workload


def read_serving(workload_id: str) -> ServingState:
    from flywheel.airflow.connections import MONGO_CONN, optional_connection
    from flywheel.airflow.rollout import open_target

    cfg = load_config()
    route: Route | None = None
    error = None
    try:
        target = open_target(cfg)
        route = target.current(workload_id) if target is not None else None
    except Exception as exc:  # the page still shows the audit when the target is unreachable
        log.warning("reading the route of %s failed: %s", workload_id, exc)
        error = f"the serving target ({cfg.serving.target}) could not be read: {type(exc).__name__}"
    if optional_connection(MONGO_CONN) is not None:
        rollouts = mongo_rollouts(MONGO_CONN, cfg.results.mongo_database, workload_id)
    else:
        rollouts = xcom_rollouts(workload_id)
    return serving_state(workload_id, cfg.serving.target, route, rollouts, error)


def mongo_rollouts(conn_id: str, database: str, workload_id: str) -> list[Rollout]:
    from airflow.providers.mongo.hooks.mongo import MongoHook

    from flywheel.airflow.rollout import ROLLOUTS_COLLECTION

    coll = MongoHook(mongo_conn_id=conn_id).get_conn()[database][ROLLOUTS_COLLECTION]
    docs = list(coll.find({"workload_id": workload_id}, {"_id": 0}).sort("started_at", -1).limit(NEWEST))
    return [r for r in (_rollout(d) for d in reversed(docs)) if r is not None]


def xcom_rollouts(workload_id: str) -> list[Rollout]:
    """The rollouts of ``flywheel_rollout`` from its XComs: the plan, each step's record, a rollback's record."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from flywheel.airflow.results_page import _xcom_value
    from flywheel.airflow.rollout import DAG_ID, ROLLBACK_KEY

    query = (
        select(XComModel.run_id, XComModel.task_id, XComModel.key, XComModel.value, DagRun.state, XComModel.timestamp)
        .join(DagRun, XComModel.dag_run_id == DagRun.id)
        .where(XComModel.dag_id == DAG_ID, XComModel.key.in_(("return_value", ROLLBACK_KEY)))
        .order_by(DagRun.run_after, DagRun.id, XComModel.timestamp)
    )
    plans: dict[str, dict[str, object]] = {}
    steps: dict[str, list[object]] = defaultdict(list)
    states: dict[str, str] = {}
    with create_session() as session:
        for row in session.execute(query).all():
            value = _xcom_value(row.value)
            states[row.run_id] = str(row.state)
            if row.task_id == "plan" and isinstance(value, dict):
                plans[row.run_id] = value
            elif isinstance(value, dict) and "step" in value:
                steps[row.run_id].append(value)
    out = []
    for run_id, plan in plans.items():
        if plan.get("workload_id") != workload_id:
            continue
        recorded = steps[run_id]
        rolled_back = any(isinstance(s, dict) and s.get("step") == "rollback" for s in recorded)
        state = "rolled_back" if rolled_back else RUN_STATE.get(states[run_id], states[run_id])
        doc = {**plan, "state": state, "steps": recorded}
        rollout = _rollout(doc)
        if rollout is not None:
            out.append(rollout)
    return out[-NEWEST:]


def _rollout(doc: dict[str, Any]) -> Rollout | None:
    try:
        return Rollout.model_validate({**doc, "steps": [RolloutStep.model_validate(s) for s in doc.get("steps", [])]})
    except ValidationError as exc:
        log.warning("rollout %s: not readable, left out: %s", doc.get("rollout_id"), exc)
        return None
