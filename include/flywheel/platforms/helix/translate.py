"""NMP-shaped requests and answers (what the DAG speaks, ``flywheel.nemo.configs``) to and from Helix v2.

- datasets: a Helix fileset per flywheel dataset; its reference ``ws/fileset`` is the dataset's
  ``files_url``, and ``ws/fileset/<file>`` (what the operators append) becomes ``ws/fileset#<file>``;
- evaluation configs: workload type from the task name, dataset and limit from the task, judge from its
  ``llm-judge`` metric (a local judge is a model served through the gateway, a remote one its URL);
- evaluation results: Helix ``eval-results`` (+ row scores for classification) read by
  :mod:`flywheel.platforms.helix.scores`, written back as ``tasks.<task>.metrics.<metric>.scores``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flywheel.config import LoraConfig, TrainingConfig
from flywheel.nemo.scores import TASKS
from flywheel.platforms.helix.payloads import helix_name
from flywheel.platforms.helix.scores import aggregates, read_scores

WORKLOAD_OF_TASK = {task: workload for workload, task in TASKS.items()}
FILE_REF = re.compile(r"^(?P<ws>[^/#:]+)/(?P<fileset>[^/#:]+)/(?P<path>[^#]+)$")
REQUEST_ID = "flywheel_request_id"


def fileset_name(dataset: str) -> str:
    return helix_name(dataset)


def file_ref(files_url: str) -> str:
    """``ws/fileset/<path>`` → ``ws/fileset#<path>`` (what Helix jobs take)."""
    m = FILE_REF.match(files_url)
    if m is None:
        raise ValueError(f"not a Helix fileset file reference (ws/fileset/<path>): {files_url!r}")
    return f"{m['ws']}/{m['fileset']}#{m['path']}"


def evaluation_parts(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(workload type, its task) of an NMP ``custom`` evaluation config with one task."""
    tasks = config.get("tasks") if isinstance(config, Mapping) else None
    if not isinstance(tasks, Mapping) or len(tasks) != 1:
        raise ValueError("evaluation config must hold exactly one task")
    ((task_name, task),) = tasks.items()
    if task_name not in WORKLOAD_OF_TASK:
        raise ValueError(f"unknown evaluation task {task_name!r} (one of {', '.join(WORKLOAD_OF_TASK)})")
    return WORKLOAD_OF_TASK[task_name], dict(task)


def target_model(target: Mapping[str, Any]) -> str:
    """The model an NMP evaluation target names: an id, or an ``api_endpoint``'s ``model_id`` (on Helix a
    candidate served elsewhere is reached through the provider we registered for it)."""
    model = target.get("model")
    if isinstance(model, Mapping):
        model = (model.get("api_endpoint") or {}).get("model_id")
    if not isinstance(model, str) or not model:
        raise ValueError(f"evaluation target names no model: {dict(target)!r}")
    return model


def judge_model(task: Mapping[str, Any]) -> str | dict[str, Any] | None:
    """The judge an NMP task names (``llm-judge`` or ``correctness`` metric), or None."""
    for metric in (task.get("metrics") or {}).values():
        if isinstance(metric, Mapping) and metric.get("type") == "llm-judge":
            return (metric.get("params") or {}).get("model")
    return None


def training_settings(payload: Mapping[str, Any]) -> tuple[TrainingConfig, LoraConfig]:
    hyper = dict(payload.get("hyperparameters") or {})
    lora = LoraConfig(**(hyper.pop("lora", None) or {}))
    return TrainingConfig(**hyper), lora


def nmp_results(
    workload_type: str, result: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """A Helix eval result in the NMP results shape: ``flywheel.nemo.configs.read_scores`` reads the same
    values :func:`flywheel.platforms.helix.scores.read_scores` does. The Helix result rides along."""
    scores = read_scores(workload_type, result, rows)
    metrics: dict[str, Any]
    if workload_type == "generic":  # NMP carries the judge's raw 1..10 mean
        raw = float(aggregates(result)["llm-judge.similarity"]["mean"])
        metrics = {"llm-judge": {"scores": {"similarity": {"value": raw}}}}
    elif workload_type == "tool_calling":
        names = ("function_name_accuracy", "function_name_and_args_accuracy")
        metrics = {"tool-calling-accuracy": {"scores": {n: {"value": scores[n]} for n in names}}}
        if "correctness" in scores:
            metrics["correctness"] = {"scores": {"rating": {"value": scores["correctness"]}}}
    else:
        metrics = {"f1": {"scores": {k: {"value": v} for k, v in scores.items()}}}
    return {"tasks": {TASKS[workload_type]: {"metrics": metrics}}, "helix": dict(result)}
