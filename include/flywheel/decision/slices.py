"""Where a candidate gets worse: its score per slice (tool name for tool calling, class for classification)
next to the best-scoring candidate's and production's on the same rows.

A slice's score is the mean of the per-row metric over the candidate's rows of that slice (for a
classification row metric such as ``accuracy`` that is the class's recall). References are compared on the
same row ids, and "significantly worse" is a paired bootstrap (:mod:`flywheel.decision.paired`) whose
interval of ``candidate − reference`` lies entirely below 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from flywheel.decision.paired import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_difference
from flywheel.decision.rows import EvalRow, by_slice, metric_values

Reference = Literal["production", "best"]


class SliceScore(BaseModel):
    """One slice of the recommended candidate's rows, with the references' scores on the same rows."""

    model_config = ConfigDict(frozen=True)

    slice: str
    rows: int
    candidate: float
    best: float | None  # the best-scoring candidate on the same rows, when given
    production: float | None  # production on the same rows, when it was evaluated
    below_bar: bool
    worse_than_best: bool  # paired interval of candidate − best entirely below 0
    worse_than_production: bool
    # reference − candidate (production when evaluated, else the best candidate); None without a reference
    regression: float | None
    reference: Reference | None


def _mean(values: Mapping[str, float], ids: Sequence[str]) -> float | None:
    got = [values[i] for i in ids if i in values]
    return sum(got) / len(got) if got else None


def _significantly_worse(
    cand: Mapping[str, float], ref: Mapping[str, float] | None, ids: Sequence[str], resamples: int, seed: int
) -> bool:
    if ref is None:
        return False
    mine = {i: cand[i] for i in ids}
    theirs = {i: ref[i] for i in ids if i in ref}
    if not theirs:
        return False
    compared = paired_difference(mine, theirs, metric="slice", margin=0.0, resamples=resamples, seed=seed)
    return compared.ci[1] < 0


def slice_table(
    candidate: Sequence[EvalRow],
    metric: str,
    min_quality: float,
    best: Sequence[EvalRow] | None = None,
    production: Sequence[EvalRow] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[SliceScore]:
    """One :class:`SliceScore` per slice of the candidate's rows that carry ``metric``, slices sorted."""
    cand = metric_values(candidate, metric)
    best_v = metric_values(best, metric) if best is not None else None
    prod_v = metric_values(production, metric) if production is not None else None
    out: list[SliceScore] = []
    for label, rows in by_slice([r for r in candidate if r.row_id in cand]).items():
        ids = [r.row_id for r in rows]
        score = _mean(cand, ids)
        if score is None:  # unreachable: every row here carries the metric
            continue
        best_s = _mean(best_v, ids) if best_v is not None else None
        prod_s = _mean(prod_v, ids) if prod_v is not None else None
        reference: Reference | None = "production" if prod_s is not None else "best" if best_s is not None else None
        ref_s = prod_s if prod_s is not None else best_s
        out.append(
            SliceScore(
                slice=label,
                rows=len(ids),
                candidate=score,
                best=best_s,
                production=prod_s,
                below_bar=score < min_quality,
                worse_than_best=_significantly_worse(cand, best_v, ids, resamples, seed),
                worse_than_production=_significantly_worse(cand, prod_v, ids, resamples, seed),
                regression=None if ref_s is None else ref_s - score,
                reference=reference,
            )
        )
    return out


def _score_of(s: SliceScore, reference: Reference | None) -> float | None:
    return s.production if reference == "production" else s.best


def slice_notes(slices: Sequence[SliceScore], min_quality: float) -> str | None:
    """The clause a recommendation's reason carries about its slices, or None when no slice is flagged."""
    parts = []
    below = [s for s in slices if s.below_bar]
    if below:
        listed = ", ".join(f"{s.slice} {s.candidate:.3f} ({s.rows} rows)" for s in below)
        parts.append(f"slices below the bar {min_quality:g}: {listed}")
    refs: tuple[tuple[Reference, str], ...] = (("production", "production"), ("best", "the best candidate"))
    for ref, who in refs:
        worse = [s for s in slices if (s.worse_than_production if ref == "production" else s.worse_than_best)]
        if worse:
            listed = ", ".join(f"{s.slice} {s.candidate:.3f} vs {_score_of(s, ref):.3f} ({s.rows} rows)" for s in worse)
            parts.append(f"significantly worse than {who} on: {listed}")
    return "; ".join(parts) or None


def slice_withhold(slices: Sequence[SliceScore], max_slice_regression: float | None) -> str | None:
    """The reason to withhold the recommendation when a slice regresses by more than ``max_slice_regression``
    against its reference (production when evaluated, else the best candidate); None to keep it."""
    if max_slice_regression is None:
        return None
    over = sorted(
        (s for s in slices if s.regression is not None and s.regression > max_slice_regression),
        key=lambda s: (-(s.regression or 0.0), s.slice),
    )
    if not over:
        return None
    listed = ", ".join(
        f"{s.slice} {s.regression:.3f} below {s.reference} "
        f"({s.candidate:.3f} vs {_score_of(s, s.reference):.3f}, {s.rows} rows)"
        for s in over
    )
    return f"withhold: slice regression over selection.max_slice_regression {max_slice_regression:g}: {listed}"
