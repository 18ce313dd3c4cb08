"""Run results (docs/contracts.md#results): normalise experiment entries into the report, store them in MongoDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from flywheel.run import spec
from flywheel.run.models import Best, NimPlan, Report, ResultEntry

STOPPED = "stopped while running: its task ended failed without a result (run marked failed, or task killed)"


def read_entry(raw: object, names: Sequence[str] = spec.EXPERIMENT_NAMES) -> ResultEntry | None:
    """An entry an experiment task left in XCom, or None when it is not one. Non-numeric scores are dropped
    and a missing status reads as failed, as an entry written by a crashed or older task may have them."""
    if not isinstance(raw, Mapping) or raw.get("experiment") not in names:
        return None
    scores = raw.get("scores")
    numeric = {k: float(v) for k, v in scores.items() if isinstance(v, int | float)} if isinstance(scores, dict) else {}
    try:
        return ResultEntry.model_validate({**raw, "status": raw.get("status") or "failed", "scores": numeric})
    except ValidationError:
        return None


def normalise(
    plans: Sequence[NimPlan],
    found: Mapping[tuple[str, str], ResultEntry],
    deploy_errors: Mapping[str, str],
    stopped: frozenset[tuple[str, str]] = frozenset(),
) -> list[ResultEntry]:
    """One entry per (NIM, experiment), whatever happened: missing entries become failed or skipped.

    ``found`` maps (nim, experiment) to the entry an experiment task left; ``deploy_errors`` maps a NIM to
    its deployment failure. An experiment with no entry either was stopped while it ran (``stopped``: its
    own task failed without leaving a result, as when a person marks the run failed) or never ran: failed
    when its NIM's deployment failed (or anything upstream did), skipped when the plan did not include it.
    Only the contract's keys are kept.
    """
    out = []
    for plan in plans:
        nim = plan.model_name
        for exp in spec.EXPERIMENTS:
            e = found.get((nim, exp.name))
            if e is not None:
                out.append(_clean(e))
            elif exp.planned_by is not None and not getattr(plan, exp.planned_by):
                out.append(
                    ResultEntry(nim=nim, experiment=exp.name, status="skipped", error="not planned for this NIM/run")
                )
            elif (nim, exp.name) in stopped:
                out.append(ResultEntry(nim=nim, experiment=exp.name, status="failed", error=STOPPED))
            else:
                why = deploy_errors.get(nim, "an upstream task failed (see task logs)")
                out.append(ResultEntry(nim=nim, experiment=exp.name, status="failed", error=f"not run: {why}"))
    return out


def _clean(e: ResultEntry) -> ResultEntry:
    clean = ResultEntry(
        nim=e.nim,
        experiment=e.experiment,
        status=e.status,
        scores=e.scores,
        error=e.error,
        job_id=e.job_id,
        duration_s=e.duration_s,
    )
    if e.rows_url:  # set only when the evaluation stored its rows (an entry without them dumps as before)
        clean.rows_url = e.rows_url
    return clean


def stopped_experiments(
    group: str, plans: Sequence[NimPlan], task_states: Mapping[str, str | None]
) -> frozenset[tuple[str, str]]:
    """(nim, experiment) whose own task failed (not upstream_failed); ``task_states`` as Airflow's
    ``get_task_states`` gives them (``<group>.<task>_<map index>`` for mapped tasks)."""
    return frozenset(
        (plan.model_name, exp.name)
        for i, plan in enumerate(plans)
        for exp in spec.EXPERIMENTS
        if any(task_states.get(f"{group}.{task}_{i}") == "failed" for task in exp.tasks)
    )


def best_candidates(results: Sequence[ResultEntry], primary: str) -> Best | None:
    scored = [r for r in results if r.status == "completed" and primary in r.scores]
    if not scored:
        return None
    top = max(scored, key=lambda r: r.scores[primary])
    return Best(nim=top.nim, experiment=top.experiment, metric=primary, score=top.scores[primary])


def store_in_mongo(conn_id: str, database: str, collection: str, dag_id: str, run_id: str, report: Report) -> int:
    """Upsert one document per (dag_id, run_id, nim, experiment) plus the run summary. Idempotent."""
    from airflow.providers.mongo.hooks.mongo import MongoHook

    hook = MongoHook(mongo_conn_id=conn_id)
    client = hook.get_conn()
    coll = client[database][collection]
    runs = client[database][f"{collection}_runs"]
    summary = report.to_json()
    n = 0
    for r in report.results:
        key = {"dag_id": dag_id, "run_id": run_id, "nim": r.nim, "experiment": r.experiment}
        doc = {**key, **r.to_json(), "workload_id": report.workload_id, "workload_type": report.workload_type}
        coll.replace_one(key, doc, upsert=True)
        n += 1
    runs.replace_one({"dag_id": dag_id, "run_id": run_id}, {"dag_id": dag_id, "run_id": run_id, **summary}, upsert=True)
    return n
