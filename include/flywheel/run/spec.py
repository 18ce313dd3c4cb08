"""The pipeline, declared once (docs/contracts.md#the-dag): its task groups and task ids, the experiments each
NIM can get, and which task outputs feed the report and the promotion.

``flywheel.airflow.dag_factory`` renders the DAG from it; the report, the approval, the promotion, the Flywheel
page and its backend read task ids from here, never as string literals of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------------------------------- data stage
EXTRACT = "extract_records"
PREPARE_EMBEDDER = "prepare_embedder"
BUILD = "build_datasets"
TEARDOWN_EMBEDDER = "teardown_embedder"
UPLOAD = "upload_datasets"
PREPARE_JUDGE = "prepare_judge"
JUDGE_CHECK = "check_judge"  # the judge's probes (judge-scored workloads), beside the GPU stage
PRODUCTION_EVAL = "production_eval"  # production as a reference experiment (skipped without served_url)
SELECT = "select_nims"

# ------------------------------------------------------------------ GPU stage: one mapped group per NIM
GROUP = "nim_experiment"
DEPLOY = "deploy_nim"
CUSTOMIZE = "customize"
LATENCY = "measure_latency"
TEARDOWN_NIM = "teardown_nim"

# ---------------------------------------------------------------------------------------- the decision
REPORT = "report"
CHECK = "check_results"
APPROVE = "approve_promotion"
PROMOTE = "promote"

# ------------------------------------------------------------------------------------------- XCom keys
RETURN = "return_value"
ENTRY_KEY = "entry"  # an experiment task's result entry when it failed or was skipped
DECISION_KEY = "decision"  # approve_promotion's decision
AUDIT_KEY = "audit"  # promote's audit record


@dataclass(frozen=True)
class Experiment:
    """One experiment a NIM can get: its evaluation task, the tasks whose failure stops it, and the plan
    flag that asks for it (None: every NIM gets it)."""

    name: str
    tasks: tuple[str, ...]
    planned_by: str | None = None

    @property
    def eval_task(self) -> str:
        return f"{self.name}_eval"


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("base", ("base_eval",)),
    Experiment("icl", ("icl_eval",), planned_by="icl"),
    Experiment("customized", (CUSTOMIZE, "customized_eval"), planned_by="customize"),
)
EXPERIMENT_NAMES: tuple[str, ...] = tuple(e.name for e in EXPERIMENTS)
# production evaluated on the same eval rows (task PRODUCTION_EVAL): a reference, never a candidate
REFERENCE_EXPERIMENT = "production"


def experiment(name: str) -> Experiment:
    for e in EXPERIMENTS:
        if e.name == name:
            return e
    raise KeyError(f"experiment: {name!r} is not one of {', '.join(EXPERIMENT_NAMES)}")


def in_group(task: str) -> str:
    """The full id of a task of the mapped GPU group."""
    return f"{GROUP}.{task}"


def mapped(task: str, map_index: int) -> str:
    """A mapped group task as ``get_task_states`` names it."""
    return f"{in_group(task)}_{map_index}"


@dataclass(frozen=True)
class Stage:
    """Tasks that run in order of the run; ``group`` names the task group they sit in (mapped per NIM)."""

    name: str
    tasks: tuple[str, ...]
    group: str | None = None

    def task_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.group}.{t}" if self.group else t for t in self.tasks)


STAGES: tuple[Stage, ...] = (
    Stage(
        "data",
        (
            EXTRACT,
            PREPARE_EMBEDDER,
            BUILD,
            TEARDOWN_EMBEDDER,
            UPLOAD,
            PREPARE_JUDGE,
            JUDGE_CHECK,
            PRODUCTION_EVAL,
            SELECT,
        ),
    ),
    Stage(
        "gpu",
        (DEPLOY, CUSTOMIZE, *(e.eval_task for e in EXPERIMENTS), LATENCY, TEARDOWN_NIM),
        group=GROUP,
    ),
    Stage("decision", (REPORT, CHECK, APPROVE, PROMOTE)),
)


def task_ids() -> frozenset[str]:
    """Every task id of a flywheel DAG."""
    return frozenset(t for stage in STAGES for t in stage.task_ids())


# Which task outputs the report reads (by the name ``tasks.report`` gives them) and where entries come from.
REPORT_INPUTS: dict[str, str] = {
    "extracted": EXTRACT,
    "built": BUILD,
    "uploaded": UPLOAD,
    "plans": SELECT,
    "latency": in_group(LATENCY),
    "customize": in_group(CUSTOMIZE),
    "judge_check": JUDGE_CHECK,
    "production": PRODUCTION_EVAL,
}
# per mapped index: a failed deployment's entry, then each experiment task's entry (return value or ``entry``)
ENTRY_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t for e in EXPERIMENTS for t in (e.eval_task, *e.tasks)))
# what promote reads, besides approve_promotion's decision
PROMOTE_INPUTS: dict[str, str] = {
    "report": REPORT,
    "plans": SELECT,
    "customize": in_group(CUSTOMIZE),
    "built": BUILD,
    "extracted": EXTRACT,
}
