"""Class-aware stratified eval / train / val split, deterministic for a seed: the same members as
scikit-learn's ``train_test_split`` for that seed, without importing it (~1.9 s and ~150 MB here).

Classes too rare to stratify (fewer than 2 members, or more classes than a split can hold) are pooled into
one stratum and reported; tiny data fails with one message saying how many records are needed.

Labels travel as integer codes numbered in the sorted order of their names, which is what scikit-learn's
``np.unique`` would see for the strings: same strata, same permutation, a few bytes per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

POOLED = "__pooled__"


class SplitError(ValueError):
    pass


@dataclass
class SplitResult:
    eval: np.ndarray  # positions in the labels, ascending
    train: np.ndarray
    val: np.ndarray
    pooled: list[str] = field(default_factory=list)
    stratified: dict[str, bool] = field(default_factory=dict)


def _encode(labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return np.fromiter((index[lab] for lab in labels), dtype=np.int64, count=len(labels)), names


def strata_codes(codes: np.ndarray, names: list[str], max_classes: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Stratification codes: rare classes pooled so every stratum has ≥ 2 members and at most ``max_classes``
    strata exist. Returns (codes, their names, names of pooled classes)."""
    counts = np.bincount(codes, minlength=len(names))
    present = [c for c in range(len(names)) if counts[c]]
    keep = [c for c in sorted(present, key=lambda c: (-counts[c], names[c])) if counts[c] >= 2]
    keep = keep[: max(1, max_classes - 1)] if len(keep) > max_classes else keep
    kept = set(keep)
    pooled = sorted(names[c] for c in present if c not in kept)
    pool_size = sum(int(counts[c]) for c in present if c not in kept)
    target = {c: names[c] for c in keep}
    fallback = names[keep[0]] if pooled and pool_size < 2 and keep else POOLED  # a lone pooled record joins
    out_names = sorted(set(target.values()) | ({fallback} if pooled else set()))
    index = {name: i for i, name in enumerate(out_names)}
    table = np.array([index[target.get(c, fallback)] if counts[c] else -1 for c in range(len(names))], dtype=np.int32)
    return table[codes], out_names, pooled


def strata(labels: Sequence[str], max_classes: int) -> tuple[list[str], list[str]]:
    """:func:`strata_codes` on names (kept for readers and tests)."""
    codes, names = _encode(labels)
    out, out_names, pooled = strata_codes(codes, names, max_classes)
    return [out_names[c] for c in out.tolist()], pooled


def _shares(counts: np.ndarray, total: int, rng: np.random.RandomState) -> np.ndarray:
    """``total`` draws shared across classes in proportion to ``counts``: each class gets the whole part of its
    exact share, then the classes with the largest fractional parts get one more, equal fractions tied and
    the winners among them drawn from ``rng``. Same arithmetic and draws as scikit-learn's stratified split
    (``test_split_equivalence`` compares them)."""
    exact = counts / counts.sum() * total
    shares = np.floor(exact)
    missing = int(total - shares.sum())
    if missing > 0:
        fraction = exact - shares
        for value in np.unique(fraction)[::-1]:
            tied = np.flatnonzero(fraction == value)
            take = min(len(tied), missing)
            shares[rng.choice(tied, size=take, replace=False)] += 1
            missing -= take
            if missing == 0:
                break
    return shares.astype(int)


def shuffled_sample(idx: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test), sorted, as sets equal to ``train_test_split(idx, test_size=..., random_state=seed)``
    (unstratified): one seeded permutation, its head is the test part."""
    n = len(idx)
    if test_size <= 0 or test_size >= n:
        raise ValueError(f"test_size {test_size} does not fit {n} records")
    permutation = np.random.RandomState(seed).permutation(n)
    return np.sort(idx[permutation[test_size:]]), np.sort(idx[permutation[:test_size]])


def _n_classes(codes: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _compact(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True, return_counts=True)[1:]`` for small non-negative codes, without
    sorting a copy (int32 ranks instead of int64)."""
    counts = np.bincount(codes)
    present = counts > 0
    rank = (np.cumsum(present) - 1).astype(np.int32)
    return rank[codes], counts[present]


def stratified_sample(idx: np.ndarray, codes: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test) as sets equal to ``train_test_split(idx, test_size=..., stratify=codes, random_state=seed)``,
    sorted, in O(n) machine integers: scikit-learn gathers the members in Python lists (~40 bytes per record),
    which at millions of records is most of the build's memory. The same random draws in the same order (its
    ``_approximate_mode`` per split, then one permutation per class); its final shuffles only reorder the
    members, and callers sort them. Raises ``ValueError`` where scikit-learn does (a test keeps them equal)."""
    n_test = test_size
    n_train = len(idx) - n_test
    if n_test <= 0 or n_train <= 0:
        raise ValueError(f"test_size {test_size} does not fit {len(idx)} records")
    inverse, class_counts = _compact(codes)
    n_classes = len(class_counts)
    if class_counts.min() < 2 or n_train < n_classes or n_test < n_classes:
        raise ValueError("too few members per class or too many classes to stratify")
    members = np.argsort(inverse, kind="stable")
    del inverse
    if len(members) < 2**31:
        members = members.astype(np.int32)
    starts = np.concatenate(([0], np.cumsum(class_counts)[:-1]))
    rng = np.random.RandomState(seed)
    n_i = _shares(class_counts, n_train, rng)
    t_i = _shares(class_counts - n_i, n_test, rng)
    train_parts, test_parts = [], []
    for c in range(n_classes):
        shuffled = members[starts[c] : starts[c] + class_counts[c]].take(rng.permutation(class_counts[c]), mode="clip")
        train_parts.append(shuffled[: n_i[c]])
        test_parts.append(shuffled[n_i[c] : n_i[c] + t_i[c]])
    return np.sort(idx[np.concatenate(train_parts)]), np.sort(idx[np.concatenate(test_parts)])


def _split(
    idx: np.ndarray, codes: np.ndarray | None, names: list[str], test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, bool, list[str]]:
    pooled: list[str] = []
    if codes is not None and _n_classes(codes) > 1:
        sub, _, pooled = strata_codes(codes, names, min(test_size, len(idx) - test_size))
        if _n_classes(sub) > 1:
            try:
                rest, test = stratified_sample(idx, sub, test_size, seed)
                return rest, test, True, pooled
            except ValueError:
                pass
    rest, test = shuffled_sample(idx, test_size, seed)
    return rest, test, False, pooled


def split(labels: Sequence[str | None], eval_size: int, val_ratio: float, seed: int, min_train: int) -> SplitResult:
    coded = None if all(lab is None for lab in labels) else _encode([str(lab) for lab in labels])
    return split_coded(len(labels), coded, eval_size, val_ratio, seed, min_train)


def split_coded(
    n: int,
    coded: tuple[np.ndarray, list[str]] | None,
    eval_size: int,
    val_ratio: float,
    seed: int,
    min_train: int,
) -> SplitResult:
    """:func:`split` on label codes numbered in the sorted order of their names (None: no labels)."""
    needed = eval_size + min_train + 1
    if n < needed:
        raise SplitError(
            f"need at least {needed} usable records (eval_size {eval_size} + {min_train} train + 1 validation), got {n}"
        )
    codes, names = coded if coded is not None else (None, [])
    idx = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)  # half the memory of the default
    rest, ev, ev_strat, pooled_eval = _split(idx, codes, names, eval_size, seed)
    n_val = max(1, round(val_ratio * len(rest)))
    n_val = min(n_val, len(rest) - min_train)
    rest_codes = codes[rest] if codes is not None else None
    train, val, val_strat, pooled_val = _split(rest, rest_codes, names, n_val, seed)
    return SplitResult(
        eval=ev,
        train=train,
        val=val,
        pooled=sorted(set(pooled_eval) | set(pooled_val)),
        stratified={"eval": ev_strat, "val": val_strat},
    )
