"""Run results (docs/contracts.md#results): normalise experiment entries into the report, store them in MongoDB."""

from __future__ import annotations

from typing import Any

EXPERIMENTS = ("base", "icl", "customized")
# the tasks whose failure stops an experiment while it runs (customize is part of the customized one)
EXPERIMENT_TASKS = {"base": ("base_eval",), "icl": ("icl_eval",), "customized": ("customize", "customized_eval")}
STOPPED = "stopped while running: its task ended failed without a result (run marked failed, or task killed)"


def normalise(
    plans: list[dict[str, Any]],
    found: dict[tuple[str, str], dict[str, Any]],
    deploy_errors: dict[str, str],
    stopped: frozenset[tuple[str, str]] = frozenset(),
) -> list[dict[str, Any]]:
    """One entry per (NIM, experiment), whatever happened: missing entries become failed or skipped.

    ``found`` maps (nim, experiment) to the entry an experiment task left; ``deploy_errors`` maps a NIM to
    its deployment failure. An experiment with no entry either was stopped while it ran (``stopped``: its
    own task failed without leaving a result, as when a person marks the run failed) or never ran: failed
    when its NIM's deployment failed (or anything upstream did), skipped when the plan did not include it.
    """
    out = []
    for plan in plans:
        nim = plan["model_name"]
        wanted = {"base": True, "icl": bool(plan.get("icl")), "customized": bool(plan.get("customize"))}
        for exp in EXPERIMENTS:
            e = found.get((nim, exp))
            if e is None:
                if not wanted[exp]:
                    e = _entry(nim, exp, "skipped", "not planned for this NIM/run")
                elif (nim, exp) in stopped:
                    e = _entry(nim, exp, "failed", STOPPED)
                elif nim in deploy_errors:
                    e = _entry(nim, exp, "failed", f"not run: {deploy_errors[nim]}")
                else:
                    e = _entry(nim, exp, "failed", "not run: an upstream task failed (see task logs)")
            out.append(_clean(e))
    return out


def stopped_experiments(
    group: str, plans: list[dict[str, Any]], task_states: dict[str, str | None]
) -> frozenset[tuple[str, str]]:
    """(nim, experiment) whose own task failed (not upstream_failed); ``task_states`` as Airflow's
    ``get_task_states`` gives them (``<group>.<task>_<map index>`` for mapped tasks)."""
    return frozenset(
        (plan["model_name"], exp)
        for i, plan in enumerate(plans)
        for exp, tasks in EXPERIMENT_TASKS.items()
        if any(task_states.get(f"{group}.{task}_{i}") == "failed" for task in tasks)
    )


def _entry(nim: str, exp: str, status: str, error: str | None) -> dict[str, Any]:
    return {
        "nim": nim,
        "experiment": exp,
        "status": status,
        "scores": {},
        "error": error,
        "job_id": None,
        "duration_s": None,
    }


def _clean(e: dict[str, Any]) -> dict[str, Any]:
    scores = {k: float(v) for k, v in (e.get("scores") or {}).items() if isinstance(v, int | float)}
    return {
        **_entry(e["nim"], e["experiment"], e.get("status", "failed"), e.get("error")),
        "scores": scores,
        "job_id": e.get("job_id"),
        "duration_s": e.get("duration_s"),
    }


def best_candidates(results: list[dict[str, Any]], primary: str) -> dict[str, Any] | None:
    scored = [r for r in results if r["status"] == "completed" and primary in r["scores"]]
    if not scored:
        return None
    top = max(scored, key=lambda r: r["scores"][primary])
    return {"nim": top["nim"], "experiment": top["experiment"], "metric": primary, "score": top["scores"][primary]}


PRIMARY_METRIC = {"tool_calling": "function_name_and_args_accuracy", "classification": "f1", "generic": "similarity"}


def store_in_mongo(
    conn_id: str, database: str, collection: str, dag_id: str, run_id: str, summary: dict[str, Any]
) -> int:
    """Upsert one document per (dag_id, run_id, nim, experiment) plus the run summary. Idempotent."""
    from airflow.providers.mongo.hooks.mongo import MongoHook

    hook = MongoHook(mongo_conn_id=conn_id)
    client = hook.get_conn()
    coll = client[database][collection]
    runs = client[database][f"{collection}_runs"]
    n = 0
    for r in summary["results"]:
        key = {"dag_id": dag_id, "run_id": run_id, "nim": r["nim"], "experiment": r["experiment"]}
        doc = {**key, **r, "workload_id": summary["workload_id"], "workload_type": summary.get("workload_type")}
        coll.replace_one(key, doc, upsert=True)
        n += 1
    runs.replace_one({"dag_id": dag_id, "run_id": run_id}, {"dag_id": dag_id, "run_id": run_id, **summary}, upsert=True)
    return n
