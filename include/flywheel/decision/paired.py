"""Intervals from rows and paired comparisons between experiments scored on the same eval rows.

Two candidates evaluated on the same rows are not independent samples: a row that is hard for one is
usually hard for the other. So the comparison is made on the per-row difference (candidate − reference) of
the rows both were scored on, and its interval is a bootstrap over those rows (the same resampled rows for
both sides). Everything is deterministic for a seed: the same rows and seed give the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np

Z95 = 1.959963984540054
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
_CELLS_PER_BLOCK = 2_000_000  # resampled values drawn at once (bounds memory for large eval sets)

Verdict = Literal["non_inferior", "inferior", "open"]


class Interval(BaseModel):
    """A percentile-bootstrap 95 % interval of the mean over ``rows`` values."""

    model_config = ConfigDict(frozen=True)

    mean: float
    lo: float
    hi: float
    rows: int
    resamples: int
    seed: int


class PairedComparison(BaseModel):
    """``candidate − reference`` on the rows both were scored on, with a one-sided non-inferiority verdict."""

    model_config = ConfigDict(frozen=True)

    candidate: str
    reference: str
    metric: str
    rows: int  # rows scored for both
    unpaired: int  # rows scored for only one of them (left out)
    candidate_mean: float
    reference_mean: float
    difference: float  # mean of the per-row differences
    difference_sd: float  # their sample standard deviation
    ci: tuple[float, float]  # bootstrap 95 % interval of the mean difference
    margin: Annotated[float, Field(ge=0)]
    verdict: Verdict
    more_rows: int | None  # for an open verdict: additional eval rows estimated to settle it
    resamples: int
    seed: int

    def describe(self) -> str:
        """One clause for a recommendation's reason."""
        lo, hi = self.ci
        head = (
            f"{self.metric} vs {self.reference}: {self.difference:+.3f} [{lo:+.3f}, {hi:+.3f}] on {self.rows} "
            f"paired rows"
        )
        if self.verdict == "non_inferior":
            return f"{head}, non-inferior at margin {self.margin:g}"
        if self.verdict == "inferior":
            return f"{head}, inferior at margin {self.margin:g}"
        more = (
            f"about {self.more_rows} more eval rows would settle it"
            if self.more_rows is not None
            else "more rows cannot settle it (the difference sits on the margin)"
        )
        return f"{head}, open at margin {self.margin:g}: {more}"


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    import numpy as np  # not at import: this module is loaded when a DAG file is parsed

    n = len(values)
    rng = np.random.default_rng(seed)
    block = max(1, _CELLS_PER_BLOCK // n)
    means = np.empty(resamples)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    means.sort()
    return means


def _percentiles(means: np.ndarray) -> tuple[float, float]:
    last = len(means) - 1
    return float(means[int(0.025 * last)]), float(means[math.ceil(0.975 * last)])


def _check(resamples: int) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be ≥ 1, got {resamples}")


def bootstrap_mean(values: Sequence[float], resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile-bootstrap 95 % interval of the mean of one experiment's per-row values."""
    _check(resamples)
    if not values:
        raise ValueError("no rows to bootstrap")
    import numpy as np

    arr = np.asarray(values, dtype=float)
    lo, hi = _percentiles(_bootstrap_means(arr, resamples, seed))
    return Interval(mean=float(arr.mean()), lo=lo, hi=hi, rows=len(arr), resamples=resamples, seed=seed)


def verdict(ci: tuple[float, float], margin: float) -> Verdict:
    """One-sided non-inferiority at ``margin``: non-inferior when the lower bound of the difference is above
    ``−margin``, inferior when the upper bound is below it, open otherwise."""
    lo, hi = ci
    if lo > -margin:
        return "non_inferior"
    if hi < -margin:
        return "inferior"
    return "open"


def rows_to_settle(difference: float, sd: float, rows: int, margin: float, z: float = Z95) -> int | None:
    """Additional eval rows estimated to settle an open verdict.

    With the normal approximation, the interval of the mean difference is ``d ± z·s/√n`` (``d`` the mean
    per-row difference, ``s`` its sample standard deviation, ``n`` the paired rows). It stops containing the
    margin ``−m`` once ``z·s/√N < |d + m|``, i.e. at

        N = ⌈(z·s / |d + m|)²⌉,   additional rows = max(N − n, 1)

    assuming ``d`` and ``s`` stay as observed (at least one: the bootstrap interval can be wider than the
    normal one). None when ``d = −m`` or ``s = 0``: no number of rows settles it at this difference.
    """
    gap = abs(difference + margin)
    if gap == 0 or sd == 0:
        return None
    needed = math.ceil((z * sd / gap) ** 2)
    return max(needed - rows, 1)


def paired_difference(
    candidate: Mapping[str, float],
    reference: Mapping[str, float],
    *,
    metric: str,
    margin: float,
    candidate_name: str = "candidate",
    reference_name: str = "reference",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedComparison:
    """Compare two experiments' per-row values (``row_id -> value``) on the rows both were scored on.

    Raises ValueError when they share no row or the margin is negative."""
    _check(resamples)
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    common = sorted(set(candidate) & set(reference))
    if not common:
        raise ValueError(f"{candidate_name} and {reference_name} share no eval row: nothing to pair")
    import numpy as np

    cand = np.array([candidate[r] for r in common], dtype=float)
    ref = np.array([reference[r] for r in common], dtype=float)
    diff = cand - ref
    n = len(diff)
    ci = _percentiles(_bootstrap_means(diff, resamples, seed))
    sd = float(diff.std(ddof=1)) if n > 1 else 0.0
    mean = float(diff.mean())
    found = verdict(ci, margin)
    return PairedComparison(
        candidate=candidate_name,
        reference=reference_name,
        metric=metric,
        rows=n,
        unpaired=len(set(candidate) ^ set(reference)),
        candidate_mean=float(cand.mean()),
        reference_mean=float(ref.mean()),
        difference=mean,
        difference_sd=sd,
        ci=ci,
        margin=margin,
        verdict=found,
        more_rows=rows_to_settle(mean, sd, n, margin) if found == "open" else None,
        resamples=resamples,
        seed=seed,
    )
