"""Task ``promote`` (after ``approve_promotion``): act on the decision and leave an audit trail.

Approved (or ``auto``): the chosen adapter's model entity is marked ``flywheel_promoted`` (our client
refuses to delete a marked model; nothing of ours deletes model entities), an Asset event on
``flywheel://promotions/<workload_id>`` carries what a deployment DAG needs, and the audit record goes to
XCom and, with a ``flywheel_mongo`` connection, to MongoDB ``<results.mongo_database>.promotions``.
Rejected, expired or superseded: the audit record is written and the task is skipped, so no Asset event
is emitted.

Exactly once: ``promote`` reads this workload's earlier promotion events (the asset is also its inlet); when
one already came from this run, a re-run (clear, retry) emits no second event and writes no second audit
record: it appends ``{"try_number", "at", "event_id"}`` to the record's ``reruns`` and is skipped. It is a
teardown of the run: when ``approve_promotion`` ended without a decision (a person marked it or the run
failed) it fails, and with it the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel.airflow import artifacts
from flywheel.airflow.connections import MONGO_CONN, optional_connection
from flywheel.airflow.hooks import NemoHook
from flywheel.config import FlywheelConfig, load_config
from flywheel.jsontypes import JsonObject
from flywheel.platforms.marks import promotion_mark
from flywheel.run import spec
from flywheel.run.models import (
    Audit,
    Built,
    CustomizeResult,
    DatasetArtifact,
    Decision,
    JobRef,
    NimPlan,
    PlatformMark,
    Report,
    Rerun,
    RerunAudit,
)

log = logging.getLogger(__name__)
PROMOTIONS_COLLECTION = "promotions"
PROMOTED = ("approved", "auto")


def promotions_uri(workload_id: str) -> str:
    return f"flywheel://promotions/{workload_id}"


def promotions_asset(workload_id: str) -> Any:
    from airflow.sdk import Asset

    return Asset(uri=promotions_uri(workload_id), name=f"flywheel_promotions_{workload_id}", group="flywheel")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dataset_artifacts(built: Built | None) -> list[DatasetArtifact]:
    """Each dataset file this run built: its artifact path and sha256."""
    if not built or not built.uri:
        return []
    local = artifacts.fetch(built.uri)
    return [
        DatasetArtifact(kind=kind, path=f"{built.uri.rstrip('/')}/{name}", sha256=_sha256(local / name))
        for kind, name in sorted(built.files.items())
    ]


def settings_hash(extracted: JsonObject | None) -> str | None:
    """sha256 of the run's effective settings exactly as ``extract_records`` returned them."""
    settings = (extracted or {}).get("settings")
    if settings is None:
        return None
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def earlier_event(inlet_events: Any, workload_id: str, dag_id: str, run_id: str) -> Any:
    """This run's promotion event, if an earlier try of ``promote`` emitted one."""
    if inlet_events is None:
        return None
    for event in inlet_events[promotions_asset(workload_id)].ascending(False).limit(200):
        extra = getattr(event, "extra", None) or {}
        source = (getattr(event, "source_dag_id", None), getattr(event, "source_run_id", None))
        if source == (dag_id, run_id) or (extra.get("dag_id"), extra.get("run_id")) == (dag_id, run_id):
            return event
    return None


def the_decision(ti: Any, dag_id: str, run_id: str) -> Decision:
    """approve_promotion's decision; without one the approval was skipped (no decision to act on) or ended
    failed (the run must end failed)."""
    from airflow.sdk.exceptions import AirflowSkipException

    raw = ti.xcom_pull(task_ids=spec.APPROVE, key=spec.DECISION_KEY)
    decision = Decision.model_validate(raw) if raw else None
    if decision and decision.status == "skipped":
        raise AirflowSkipException(f"no decision to act on: {decision.comment}")
    if decision:
        return decision
    state = (ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id) or {}).get(spec.APPROVE)
    if state in ("skipped", "upstream_failed", None):
        raise AirflowSkipException(f"{spec.APPROVE} is {state}: no decision, nothing promoted")
    raise RuntimeError(f"{spec.APPROVE} ended {state} without a decision: nothing promoted")


def promote(
    config_path: str | None,
    workload_id: str,
    ti: Any,
    dag_id: str,
    run_id: str,
    events: tuple[Any, Any],
) -> JsonObject:
    """Act on approve_promotion's decision with the outputs ``spec.PROMOTE_INPUTS`` names; ``events``: the
    task's (outlet_events, inlet_events)."""
    from airflow.sdk.exceptions import AirflowSkipException

    outlet_events, inlet_events = events
    decision = the_decision(ti, dag_id, run_id)
    cfg = load_config(config_path)
    done = earlier_event(inlet_events, workload_id, dag_id, run_id)
    if done is not None:
        rerun = Rerun(try_number=getattr(ti, "try_number", None), at=_now(), event_id=getattr(done, "id", None))
        _store_rerun(cfg, dag_id, run_id, rerun)
        again = RerunAudit(dag_id=dag_id, run_id=run_id, decision=decision, rerun=rerun)
        ti.xcom_push(key=spec.AUDIT_KEY, value=again.to_json())
        raise AirflowSkipException(f"already promoted by this run (event at {getattr(done, 'timestamp', '?')}): re-run")

    def pull(what: str, map_index: int | None = None) -> Any:
        task_id = spec.PROMOTE_INPUTS[what]
        if map_index is None:
            return ti.xcom_pull(task_ids=task_id, key=spec.RETURN)
        return ti.xcom_pull(task_ids=task_id, key=spec.RETURN, map_indexes=map_index)

    report = Report.model_validate(pull("report") or {})
    plans = [NimPlan.model_validate(p) for p in pull("plans") or []]
    nim, experiment = decision.nim, decision.experiment
    custom = CustomizeResult(nim=nim or "")
    for i, plan in enumerate(plans):
        if plan.model_name == nim:
            custom = CustomizeResult.model_validate(pull("customize", i) or {"nim": nim})
    model_id = custom.output_model if experiment == "customized" else nim
    entry = report.entry(nim, experiment)
    built, extracted = pull("built"), pull("extracted")
    audit = Audit(
        workload_id=workload_id,
        dag_id=dag_id,
        run_id=run_id,
        decision=decision,
        model_id=model_id,
        scores=entry.scores if entry else None,
        latency=entry.latency if entry else None,
        cost=entry.cost if entry else None,
        recommendation=report.recommendation,
        datasets=dataset_artifacts(Built.model_validate(built) if built else None),
        # a list, not a mapping: model names contain dots, which MongoDB field names should not
        job_ids=[JobRef(nim=r.nim, experiment=r.experiment, job_id=r.job_id) for r in report.results if r.job_id],
        customization_job_id=custom.job_id,
        settings_sha256=settings_hash(extracted),
        by=decision.by,
        at=decision.at,
        comment=decision.comment,
        platform_mark=None,
    )
    if decision.status in PROMOTED and model_id:
        audit.platform_mark = _mark_on_platform(cfg, model_id, experiment, decision, workload_id, dag_id, run_id)
    _store(cfg, audit, getattr(ti, "try_number", None))
    record = audit.to_json()
    ti.xcom_push(key=spec.AUDIT_KEY, value=record)
    if decision.status not in PROMOTED:
        raise AirflowSkipException(f"decision {decision.status}: nothing promoted (audit recorded)")
    outlet_events[promotions_asset(workload_id)].extra.update(
        {
            "workload_id": workload_id,
            "nim": nim,
            "experiment": experiment,
            "model_id": model_id,
            "scores": record["scores"],
            "latency": record["latency"],
            "cost": record["cost"],
            "dag_id": dag_id,
            "run_id": run_id,
            "approver": decision.by,
            "comment": decision.comment,
            "decision": decision.status,
        }
    )
    log.info("PROMOTED %s %s (%s) for %s by %s", nim, experiment, model_id, workload_id, decision.by)
    return record


def _mark_on_platform(
    cfg: FlywheelConfig,
    model_id: str,
    experiment: str | None,
    decision: Decision,
    workload_id: str,
    dag_id: str,
    run_id: str,
) -> PlatformMark:
    """Mark the customized adapter's model entity; a base model is a NIM image with no entity to mark."""
    if experiment != "customized":
        why = "base model: served by its NIM image, nothing to mark"
        return PlatformMark(model_id=model_id, marked=False, why=why)

    fields: JsonObject = dict(promotion_mark(workload_id, decision.by, decision.at, dag_id, run_id))
    with NemoHook.from_config(cfg).get_conn() as c:
        c.mark_model(model_id, fields)
    log.info("marked %s as promoted on the platform", model_id)
    return PlatformMark(model_id=model_id, marked=True, custom_fields=fields)


def _now() -> str:

    return datetime.now(UTC).isoformat()


def _collection(cfg: FlywheelConfig) -> Any:

    if optional_connection(MONGO_CONN) is None:
        return None
    from airflow.providers.mongo.hooks.mongo import MongoHook

    return MongoHook(mongo_conn_id=MONGO_CONN).get_conn()[cfg.results.mongo_database][PROMOTIONS_COLLECTION]


def _store_rerun(cfg: FlywheelConfig, dag_id: str, run_id: str, rerun: Rerun) -> None:
    log.info("promote re-ran for %s/%s: nothing re-emitted (%s)", dag_id, run_id, rerun.to_json())
    coll = _collection(cfg)
    if coll is None:
        return
    key = {"dag_id": dag_id, "run_id": run_id}
    record = coll.find_one(key, {"_id": 0})
    if record is not None:  # read-modify-write: promote re-runs one at a time (a run's single task)
        coll.replace_one(key, {**record, "reruns": [*record.get("reruns", []), rerun.to_json()]})


def _store(cfg: FlywheelConfig, audit: Audit, try_number: int | None) -> None:
    coll = _collection(cfg)
    if coll is None:
        return
    key = {"dag_id": audit.dag_id, "run_id": audit.run_id}
    # one record per run: a re-run (clear, retry) rewrites it and appends itself to ``reruns``
    earlier = coll.find_one(key, {"reruns": 1, "at": 1})
    reruns = [] if earlier is None else [*earlier.get("reruns", []), Rerun(try_number=try_number, at=_now()).to_json()]
    coll.replace_one(key, {**audit.to_json(), "reruns": reruns}, upsert=True)
    log.info("audit record stored in MongoDB %s.%s", cfg.results.mongo_database, PROMOTIONS_COLLECTION)
