"""How sure the recommendation is, in one call: paired verdicts, slices and the judge check from per-row results.

The report step passes the recommended candidate's rows, the best-scoring candidate's and production's (when
evaluated) and the judge check; :func:`assess` returns the report's ``paired``, ``slices`` and ``judge``
parts, the clauses for the recommendation's reason, and the first reason that withholds it (or None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from flywheel.decision.judge_checks import JudgeCheck
from flywheel.decision.paired import DEFAULT_RESAMPLES, DEFAULT_SEED, PairedComparison, paired_difference
from flywheel.decision.rows import EvalRow, metric_values
from flywheel.decision.slices import SliceScore, slice_notes, slice_table, slice_withhold

# the per-row metric each workload type is compared on (classification's primary f1 is not a per-row value:
# its rows carry whether the label was right)
ROW_METRIC = {"tool_calling": "function_name_and_args_accuracy", "classification": "accuracy", "generic": "similarity"}


@dataclass(frozen=True)
class Experiment:
    """One experiment's rows under the name the report gives it (``"<nim> <experiment>"``, ``"production"``)."""

    name: str
    rows: Sequence[EvalRow]


class Assessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    paired: list[PairedComparison]  # against the best-scoring candidate, then against production
    slices: list[SliceScore]
    judge: JudgeCheck | None
    notes: list[str]  # clauses for the recommendation's reason
    withhold: str | None  # the first reason not to recommend (judge, then slices), None to keep it


def assess(
    candidate: Experiment,
    metric: str,
    min_quality: float,
    margin: float,
    max_slice_regression: float | None = None,
    best: Experiment | None = None,
    production: Experiment | None = None,
    judge: JudgeCheck | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Assessment:
    """Paired comparisons of ``candidate`` against ``best`` (skipped when it is the candidate itself) and
    ``production``, the slice table, and what withholds the recommendation."""
    mine = metric_values(candidate.rows, metric)
    paired = []
    for ref in (best, production):
        if ref is None or ref.name == candidate.name:
            continue
        theirs = metric_values(ref.rows, metric)
        if set(mine) & set(theirs):
            paired.append(
                paired_difference(
                    mine,
                    theirs,
                    metric=metric,
                    margin=margin,
                    candidate_name=candidate.name,
                    reference_name=ref.name,
                    resamples=resamples,
                    seed=seed,
                )
            )
    slices = slice_table(
        candidate.rows,
        metric,
        min_quality,
        best=best.rows if best is not None and best.name != candidate.name else None,
        production=production.rows if production is not None else None,
        resamples=resamples,
        seed=seed,
    )
    notes = [p.describe() for p in paired]
    if (flagged := slice_notes(slices, min_quality)) is not None:
        notes.append(flagged)
    withhold = judge.reason if judge is not None and not judge.trusted else None
    withhold = withhold or slice_withhold(slices, max_slice_regression)
    return Assessment(metric=metric, paired=paired, slices=slices, judge=judge, notes=notes, withhold=withhold)
