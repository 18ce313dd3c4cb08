"""Read an evaluation's aggregates (:class:`~flywheel.platforms.core.specs.EvaluationResults`) into report scores.

Keys (docs/contracts.md#results), every value a float in [0, 1]:
- generic → ``similarity`` (judge mean on 1..10 mapped linearly: 1 → 0.0, 10 → 1.0);
- tool_calling → ``function_name_accuracy``, ``function_name_and_args_accuracy`` (+ ``correctness``);
- classification → ``f1`` (+ ``accuracy``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flywheel.platforms.core.specs import EvaluationResults, Score

TASKS = {"generic": "llm-as-judge", "tool_calling": "custom-tool-calling", "classification": "classification"}


class ScoreError(ValueError):
    """The results do not hold the scores this workload type needs (message names what is missing)."""


def _value(metrics: dict[str, dict[str, Score]], metric: str, scores: tuple[str, ...], required: bool) -> float | None:
    block = metrics.get(metric)
    if block is None:
        if required:
            raise ScoreError(f"evaluation results have no '{metric}' metric (found: {', '.join(metrics) or 'none'})")
        return None
    for name in scores:
        entry = block.get(name)
        if entry is None:
            continue
        if entry.count == 0:
            raise ScoreError(f"'{metric}.{name}' was computed over 0 items (no parsable judge/metric output)")
        if entry.value is None or not math.isfinite(entry.value):
            raise ScoreError(f"'{metric}.{name}' is not a finite number: {entry.value!r}")
        return float(entry.value)
    if required:
        raise ScoreError(f"metric '{metric}' has no score {' / '.join(scores)} (found: {', '.join(block) or 'none'})")
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


def read_scores(workload_type: str, results: EvaluationResults) -> dict[str, float]:
    if workload_type not in TASKS:
        raise ScoreError(f"unknown workload type {workload_type!r} (one of {', '.join(TASKS)})")
    if results.workload_type not in (None, workload_type):
        raise ScoreError(f"results are of a {results.workload_type} evaluation, not {workload_type}")
    metrics = results.metrics
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
