"""Pass 2 of the build, on the scan's arrays only: newest-first order, the limit, dedup (newest wins).

It reproduces, vectorised, the sequential rule the build always had: read records newest first (timestamp
desc, then line order); a rejected record counts as read; once ``limit`` unique records are kept, stop at the
first valid record whose timestamp differs from the last kept one; a duplicate of a kept record counts as a
duplicate, and among duplicates with the kept record's timestamp the smaller content hash wins; finally the
kept records are sorted by (timestamp desc, key) and cut to ``limit``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flywheel.datasets.scan import Scan


@dataclass
class Decision:
    kept: np.ndarray  # scan rows, sorted by (timestamp desc, key)
    read: int
    invalid: dict[str, int]
    duplicates: int


def content_hash(record: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(record, sort_keys=True, ensure_ascii=False).encode(), digest_size=16).hexdigest()


def decide(scan: Scan, limit: int | None, record_at: Callable[[int], dict[str, Any]]) -> Decision:
    order = np.argsort(-scan.header_ts, kind="stable")  # newest first, then line order
    if len(order) < 2**31:
        order = order.astype(np.int32)  # these arrays are most of the build's memory: half the bytes
    status = scan.status[order]
    valid = order[status == 0]  # scan rows of valid records, in reading order
    stop = len(order)  # reading-order position where reading stops
    n_valid = len(valid)
    if n_valid:
        keys = scan.keys[valid]
        is_new = _first_rows(keys)
        if limit is not None:
            unique_before = np.cumsum(is_new) - is_new
            last_new = np.maximum.accumulate(np.where(is_new, np.arange(n_valid), -1))
            last_new_before = np.concatenate(([-1], last_new[:-1]))
            ts = scan.ts[valid]
            breaks = np.flatnonzero(
                (unique_before >= limit) & (ts != ts[np.maximum(last_new_before, 0)]) & (last_new_before >= 0)
            )
            if len(breaks):
                cut = int(breaks[0])
                stop = int(np.flatnonzero(status == 0)[cut])
                valid, keys, is_new = valid[:cut], keys[:cut], is_new[:cut]
    processed_status = status[:stop]
    invalid: Counter[str] = Counter(scan.early_invalid)
    codes, counts = np.unique(processed_status[processed_status != 0], return_counts=True)
    for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
        invalid[scan.reasons[code - 1]] += count
    read = sum(scan.early_invalid.values()) + stop
    duplicates = int(len(valid) - is_new.sum()) if len(valid) else 0
    kept = valid[is_new] if len(valid) else valid
    if duplicates:
        kept = _same_second_winners(scan, valid, keys, is_new, kept, record_at)
    if len(kept):
        kept = kept[np.lexsort((scan.keys[kept, 1], scan.keys[kept, 0], -scan.ts[kept]))]
    if limit is not None and len(kept) > limit:
        read -= len(kept) - limit  # records past the limit (same timestamp) count as not read
        kept = kept[:limit]
    return Decision(kept=kept, read=read, invalid=dict(sorted(invalid.items())), duplicates=duplicates)


def _first_rows(keys: np.ndarray) -> np.ndarray:
    """Per row: whether it is the first row with its key (one key column compared at a time: less memory)."""
    order = np.lexsort((keys[:, 1], keys[:, 0]))  # stable: equal keys stay in row order
    starts = np.ones(len(order), dtype=bool)
    for column in (0, 1):
        ordered = keys[order, column]
        if column == 0:
            starts[1:] = ordered[1:] != ordered[:-1]
        else:
            starts[1:] |= ordered[1:] != ordered[:-1]
        del ordered
    is_first = np.zeros(len(order), dtype=bool)
    is_first[order[starts]] = True
    return is_first


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a group id shared by equal keys, and whether it is the group's first row."""
    order = np.lexsort((keys[:, 1], keys[:, 0]))  # stable: equal keys stay in row order
    ordered = keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (ordered[1:, 0] != ordered[:-1, 0]) | (ordered[1:, 1] != ordered[:-1, 1])
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    is_first = np.zeros(len(order), dtype=bool)
    is_first[order[starts]] = True
    return group, is_first


def _same_second_winners(
    scan: Scan,
    valid: np.ndarray,
    keys: np.ndarray,
    is_new: np.ndarray,
    kept: np.ndarray,
    record_at: Callable[[int], dict[str, Any]],
) -> np.ndarray:
    """Duplicates with the same timestamp as the kept (newest) record compete on content hash: the records
    are read again only for these (rare) groups."""
    group = _groups(keys)[0]
    first_of_group = np.full(group.max() + 1, -1, dtype=np.int64)
    new_pos = np.flatnonzero(is_new)
    first_of_group[group[new_pos]] = new_pos
    first = first_of_group[group]
    ts = scan.ts[valid]
    ties = np.flatnonzero(~is_new & (ts == ts[first]))
    if not len(ties):
        return kept
    winner = {int(first[i]): int(first[i]) for i in ties}
    hashes: dict[int, str] = {}

    def hash_of(pos: int) -> str:
        if pos not in hashes:
            hashes[pos] = content_hash(record_at(int(valid[pos])))
        return hashes[pos]

    for pos in ties.tolist():
        head = int(first[pos])
        if hash_of(pos) < hash_of(winner[head]):
            winner[head] = pos
    out = kept.copy()
    slot = {int(p): i for i, p in enumerate(new_pos.tolist())}
    for head, pos in winner.items():
        out[slot[head]] = valid[pos]
    return out
