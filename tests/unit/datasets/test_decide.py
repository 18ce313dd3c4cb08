"""The vectorised decision equals the sequential rule it stands for, written plainly here: newest first (line
order among equal timestamps), dedup with the newest record winning (the smaller content hash among
duplicates with its timestamp), and the ``limit`` — including keys whose first 8 bytes collide."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from flywheel.datasets.decide import content_hash, decide
from flywheel.datasets.scan import Scan


def _scan(rng: np.random.Generator, n: int, colliding: bool) -> tuple[Scan, list[dict]]:
    status = np.where(rng.random(n) < 0.1, 1, 0).astype(np.int16)
    ts = rng.integers(0, n // 3 + 1, n).astype(np.int64)
    groups = rng.integers(0, max(1, n // 2), n)  # about two records per key
    hi = np.full(n, 7, dtype=np.uint64) if colliding else groups.astype(np.uint64) * 2654435761
    keys = np.stack([hi, groups.astype(np.uint64)], axis=1)
    records = [{"row": i, "salt": int(rng.integers(0, 3))} for i in range(n)]
    scan = Scan(
        header_ts=ts.astype(np.float64),
        offsets=np.arange(n, dtype=np.int64),
        status=status,
        ts=ts.copy(),
        keys=keys,
        tool_code=np.zeros(n, np.int32),
        class_code=np.zeros(n, np.int32),
        flags=np.zeros(n, np.uint8),
        reasons=["bad"],
        tool_labels=[],
        class_labels=[],
        early_invalid=Counter({"not_json": 2}),
        other_workloads=0,
        blank=0,
        lines=n + 2,
    )
    return scan, records


def _plain(scan: Scan, records: list[dict], limit: int | None) -> tuple[list[int], int, int, int]:
    """The rule, one record at a time."""
    order = sorted(range(len(records)), key=lambda r: (-scan.ts[r], r))
    kept: dict[tuple[int, int], int] = {}
    read = invalid = duplicates = 0
    last_ts = None
    for r in order:
        if scan.status[r]:
            read += 1
            invalid += 1
            continue
        if limit is not None and len(kept) >= limit and scan.ts[r] != last_ts:
            break
        read += 1
        key = (int(scan.keys[r, 0]), int(scan.keys[r, 1]))
        if key not in kept:
            kept[key] = r
            last_ts = scan.ts[r]
            continue
        duplicates += 1
        head = kept[key]
        if scan.ts[r] == scan.ts[head] and content_hash(records[r]) < content_hash(records[head]):
            kept[key] = r
    rows = sorted(kept.values(), key=lambda r: (-scan.ts[r], int(scan.keys[r, 0]), int(scan.keys[r, 1])))
    if limit is not None and len(rows) > limit:
        read -= len(rows) - limit
        rows = rows[:limit]
    return rows, read + 2, invalid, duplicates


@pytest.mark.parametrize("colliding", [False, True], ids=["distinct-first-halves", "colliding-first-halves"])
@pytest.mark.parametrize("limit", [None, 5, 40])
@pytest.mark.parametrize("seed", range(6))
def test_decision_equals_the_sequential_rule(seed, limit, colliding):
    rng = np.random.default_rng(seed)
    scan, records = _scan(rng, 300, colliding)
    want_rows, want_read, want_invalid, want_dups = _plain(scan, records, limit)
    got = decide(scan, limit, lambda row: records[row])
    assert got.kept.tolist() == want_rows
    assert (got.read, sum(got.invalid.values()) - 2, got.duplicates) == (want_read, want_invalid, want_dups)
