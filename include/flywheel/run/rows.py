"""The platform's per-row results as the decision reads them: ``platforms.core.specs.EvalRow`` (raw
``<metric>.<score>`` keys, the judge's 1..10 similarity) mapped onto ``decision.rows.EvalRow`` (the report's
metric names, every value on the [0, 1] scale), one line of an experiment's rows artifact."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from flywheel.decision.rows import EvalRow
from flywheel.platforms.core.specs import EvalRow as PlatformRow


def _similarity(value: float) -> float:
    return (value - 1.0) / 9.0  # the judge's 1..10, as the aggregate's similarity_to_unit maps it


# raw key -> (report metric, maps the raw value onto [0, 1])
ROW_KEYS: dict[str, tuple[str, Callable[[float], float]]] = {
    "llm-judge.similarity": ("similarity", _similarity),
    "tool-calling-accuracy.function_name_accuracy": ("function_name_accuracy", float),
    "tool-calling-accuracy.function_name_and_args_accuracy": ("function_name_and_args_accuracy", float),
    "correctness.rating": ("correctness", float),
    "correctness.correctness": ("correctness", float),
    "f1.accuracy": ("accuracy", float),
    "accuracy.accuracy": ("accuracy", float),
}


def decision_row(row: PlatformRow) -> EvalRow:
    """One platform row on the report's scale; unparsed (None), non-finite and unknown scores are left out."""
    metrics: dict[str, float] = {}
    for key, raw in row.scores.items():
        known = ROW_KEYS.get(key)
        if known is None or raw is None or not math.isfinite(raw):
            continue
        name, scale = known
        metrics[name] = min(max(scale(float(raw)), 0.0), 1.0)
    return EvalRow(row_id=row.row_id, slice=row.slice, metrics=metrics, judge_raw=row.judge_answer)


def decision_rows(rows: Iterable[PlatformRow]) -> list[EvalRow]:
    return [decision_row(r) for r in rows]
