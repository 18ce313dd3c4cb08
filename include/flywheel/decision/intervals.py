"""95 % intervals for a score: Wilson from counts (accuracy-type metrics), bootstrap over per-row scores."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Z95 = 1.959963984540054
# metrics that are a share of items answered exactly right, so score × n is a count of successes
ACCURACY_METRICS = frozenset({"accuracy", "function_name_accuracy", "function_name_and_args_accuracy"})


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (well-behaved at 0, 1 and small n)."""
    if n <= 0:
        raise ValueError("n must be > 0")
    if not 0 <= successes <= n:
        raise ValueError("successes must be within [0, n]")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap of the mean (deterministic for a given seed)."""
    if not values:
        raise ValueError("no values to bootstrap")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    lo = means[int(0.025 * (resamples - 1))]
    hi = means[math.ceil(0.975 * (resamples - 1))]
    return lo, hi


def score_interval(
    metric: str, score: float, n: int | None, per_row: Sequence[float] | None = None
) -> tuple[tuple[float, float] | None, str]:
    """(interval or None, method): bootstrap when per-row scores exist, Wilson for an accuracy-type metric
    with a known item count, otherwise missing (the reason says which)."""
    if per_row:
        from flywheel.decision.paired import bootstrap_mean  # numpy: only when rows exist

        found = bootstrap_mean(per_row)
        return (round(found.lo, 4), round(found.hi, 4)), "bootstrap"
    if metric in ACCURACY_METRICS and n:
        lo, hi = wilson_interval(round(score * n), n)
        return (round(lo, 4), round(hi, 4)), "wilson"
    return None, f"no interval: {metric} is not a count-based metric and no per-row scores were returned"
