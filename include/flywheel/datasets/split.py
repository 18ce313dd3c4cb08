"""Class-aware stratified eval / train / val split (scikit-learn), deterministic for a seed.

Classes too rare to stratify (fewer than 2 members, or more classes than a split can hold) are pooled into
one stratum and reported; tiny data fails with one message saying how many records are needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

POOLED = "__pooled__"


class SplitError(ValueError):
    pass


@dataclass
class SplitResult:
    eval: list[int]
    train: list[int]
    val: list[int]
    pooled: list[str] = field(default_factory=list)
    stratified: dict[str, bool] = field(default_factory=dict)


def strata(labels: Sequence[str], max_classes: int) -> tuple[list[str], list[str]]:
    """Stratification labels: rare classes pooled so every stratum has ≥ 2 members and at most
    ``max_classes`` strata exist. Returns (strata, names of pooled classes)."""
    counts = Counter(labels)
    keep = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2]
    keep = keep[: max(1, max_classes - 1)] if len(keep) > max_classes else keep
    pooled = sorted(c for c in counts if c not in keep)
    out = [lab if lab in keep else POOLED for lab in labels]
    pool_size = sum(counts[c] for c in pooled)
    if pooled and pool_size < 2 and keep:  # a lone pooled record joins the largest class
        out = [keep[0] if s == POOLED else s for s in out]
    return out, pooled


def _split(
    idx: list[int], labels: list[str] | None, test_size: int, seed: int
) -> tuple[list[int], list[int], bool, list[str]]:
    from sklearn.model_selection import train_test_split

    pooled: list[str] = []
    if labels is not None and len(set(labels)) > 1:
        sub, pooled = strata(labels, min(test_size, len(idx) - test_size))
        if len(set(sub)) > 1:
            try:
                rest, test = train_test_split(idx, test_size=test_size, stratify=sub, random_state=seed)
                return sorted(rest), sorted(test), True, pooled
            except ValueError:
                pass
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, shuffle=True)
    return sorted(rest), sorted(test), False, pooled


def split(labels: Sequence[str | None], eval_size: int, val_ratio: float, seed: int, min_train: int) -> SplitResult:
    n = len(labels)
    needed = eval_size + min_train + 1
    if n < needed:
        raise SplitError(
            f"need at least {needed} usable records (eval_size {eval_size} + {min_train} train + 1 validation), got {n}"
        )
    strat = None if all(lab is None for lab in labels) else [str(lab) for lab in labels]
    idx = list(range(n))
    rest, ev, ev_strat, pooled_eval = _split(idx, strat, eval_size, seed)
    n_val = max(1, round(val_ratio * len(rest)))
    n_val = min(n_val, len(rest) - min_train)
    rest_labels = [strat[i] for i in rest] if strat is not None else None
    train, val, val_strat, pooled_val = _split(rest, rest_labels, n_val, seed)
    return SplitResult(
        eval=ev,
        train=train,
        val=val,
        pooled=sorted(set(pooled_eval) | set(pooled_val)),
        stratified={"eval": ev_strat, "val": val_strat},
    )
