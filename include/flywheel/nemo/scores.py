"""Read evaluation results (``tasks.<task>.metrics.<metric>.scores.<score>.value``) into report scores.

Keys (docs/contracts.md#results), every value a float in [0, 1]:
- generic → ``similarity`` (judge mean on 1..10 mapped linearly: 1 → 0.0, 10 → 1.0);
- tool_calling → ``function_name_accuracy``, ``function_name_and_args_accuracy`` (+ ``correctness``);
- classification → ``f1`` (+ ``accuracy``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TASKS = {"generic": "llm-as-judge", "tool_calling": "custom-tool-calling", "classification": "classification"}


class ScoreError(ValueError):
    """The results do not hold the scores this workload type needs (message names what is missing)."""


def _metrics(results: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The metrics block of ``task``, or merged metrics of all tasks when that task name is absent."""
    tasks = results.get("tasks") if isinstance(results, Mapping) else None
    if not isinstance(tasks, Mapping) or not tasks:
        raise ScoreError("evaluation results have no 'tasks'")
    chosen = (
        [tasks[task]] if isinstance(tasks.get(task), Mapping) else [t for t in tasks.values() if isinstance(t, Mapping)]
    )
    merged: dict[str, Any] = {}
    for t in chosen:
        if isinstance(t.get("metrics"), Mapping):
            merged.update(t["metrics"])
    return merged


def _value(metrics: Mapping[str, Any], metric: str, scores: tuple[str, ...], required: bool) -> float | None:
    block = metrics.get(metric)
    if not isinstance(block, Mapping):
        if required:
            raise ScoreError(f"evaluation results have no '{metric}' metric (found: {', '.join(metrics) or 'none'})")
        return None
    found = got if isinstance(got := block.get("scores"), Mapping) else {}
    for name in scores:
        entry = found.get(name)
        if entry is None:
            continue
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        stats = entry.get("stats") if isinstance(entry, Mapping) else None
        if isinstance(stats, Mapping) and stats.get("count") == 0:
            raise ScoreError(f"'{metric}.{name}' was computed over 0 items (no parsable judge/metric output)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ScoreError(f"'{metric}.{name}' is not a finite number: {value!r}")
        return float(value)
    if required:
        raise ScoreError(f"metric '{metric}' has no score {' / '.join(scores)} (found: {', '.join(found) or 'none'})")
    return None


def _unit(name: str, value: float) -> float:
    if not -1e-9 <= value <= 1 + 1e-9:
        raise ScoreError(f"score '{name}' = {value} is outside [0, 1]")
    return min(max(value, 0.0), 1.0)


def similarity_to_unit(value: float) -> float:
    """Judge similarity mean on the 1..10 scale → [0, 1]."""
    if not 0 <= value <= 10:
        raise ScoreError(f"judge similarity {value} is outside the 1..10 scale")
    return min(max((value - 1.0) / 9.0, 0.0), 1.0)


def read_scores(workload_type: str, results: dict[str, Any]) -> dict[str, float]:
    if workload_type not in TASKS:
        raise ScoreError(f"unknown workload type {workload_type!r} (one of {', '.join(TASKS)})")
    metrics = _metrics(results, TASKS[workload_type])
    out: dict[str, float] = {}
    if workload_type == "generic":
        raw = _value(metrics, "llm-judge", ("similarity",), True)
        out["similarity"] = similarity_to_unit(raw if raw is not None else math.nan)
    elif workload_type == "tool_calling":
        for score in ("function_name_accuracy", "function_name_and_args_accuracy"):
            v = _value(metrics, "tool-calling-accuracy", (score,), True)
            out[score] = _unit(score, v if v is not None else math.nan)
        rating = _value(metrics, "correctness", ("rating", "correctness"), False)
        if rating is not None:
            out["correctness"] = _unit("correctness", rating)
    else:
        f1 = _value(metrics, "f1", ("f1", "f1_score"), True)
        out["f1"] = _unit("f1", f1 if f1 is not None else math.nan)
        acc = _value(metrics, "f1", ("accuracy",), False)
        if acc is None:
            acc = _value(metrics, "accuracy", ("accuracy", "value"), False)
        if acc is not None:
            out["accuracy"] = _unit("accuracy", acc)
    return out
