"""95 % intervals for a score: Wilson from counts (accuracy-type metrics), or the bootstrap over per-row scores
(``decision.paired.bootstrap_mean``, the one bootstrap of the product)."""

from __future__ import annotations

import math
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
