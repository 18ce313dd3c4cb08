"""Bulk, idempotent loading of log files into Elasticsearch / OpenSearch.

Each document's ``_id`` (and ``record_id``) is a hash of its content, and documents are created with
``op_type=create``: loading the same file twice loads nothing new (counted as skipped).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict

from flywheel.records.lines import DEFAULT_MAX_RECORD_BYTES, RECORD_TOO_LARGE, bounded_lines
from flywheel.records.validation import Rejected, missing, parse_line, wrong_type

MAPPING = {
    "dynamic": True,  # extra top-level fields are allowed
    "properties": {
        "timestamp": {"type": "date", "format": "epoch_second"},
        "workload_id": {"type": "keyword"},
        "client_id": {"type": "keyword"},
        "record_id": {"type": "keyword"},
        "request": {"type": "object", "enabled": False},
        "response": {"type": "object", "enabled": False},
    },
}


def record_id(record: Mapping[str, object]) -> str:
    body = {k: v for k, v in record.items() if k != "record_id"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def ensure_index(client: Any, index: str) -> bool:
    """Create the index with our mapping if absent; True when created."""
    if client.indices.exists(index=index):
        return False
    client.indices.create(index=index, mappings=MAPPING, settings={"index": {"number_of_replicas": 0}})
    return True


def _unindexable(rec: Mapping[str, object]) -> str | None:
    """Why a record cannot be indexed and found again by workload and time (validation's reason names)."""
    for field in ("workload_id", "timestamp"):
        if rec.get(field) is None:
            return missing(field)
    if not isinstance(rec["workload_id"], str):
        return wrong_type("workload_id")
    ts = rec["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return wrong_type("timestamp")
    return None


class LoadCounts(TypedDict):
    loaded: int
    skipped: int  # already there (same content, same id)
    invalid: dict[str, int]  # by reason: not indexable, left out
    failed: dict[str, int]  # by Elasticsearch error type


class UnreadableInput(ValueError):
    """The log file cannot be read to its end (truncated or corrupt); the message names the line."""


def _lines(path: Path, max_bytes: int) -> Iterator[bytes | int]:
    opener = __import__("gzip").open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rb") as f:
        lines = bounded_lines(f, max_bytes)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as exc:
                raise UnreadableInput(f"{path}: cannot read past line {n}: {exc}"[:300]) from None
            n += 1
            yield line


def _actions(
    path: Path, index: str, invalid: Counter[str], max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[dict[str, object]]:
    for line in _lines(path, max_bytes):
        if isinstance(line, int):  # a line over max_bytes: skipped without being held
            invalid[RECORD_TOO_LARGE] += 1
            continue
        if not line.strip():
            continue
        rec = parse_line(line)
        if isinstance(rec, Rejected):
            invalid[rec.reason] += 1
            continue
        problem = _unindexable(rec)
        if problem:  # other problems are left to the dataset build, which counts them by reason
            invalid[problem] += 1
            continue
        rid = record_id(rec)
        yield {"_op_type": "create", "_index": index, "_id": rid, "_source": {**rec, "record_id": rid}}


def load_file(client: Any, path: Path, index: str, chunk_size: int = 500) -> LoadCounts:
    from elasticsearch.helpers import streaming_bulk

    ensure_index(client, index)
    invalid: Counter[str] = Counter()
    loaded = skipped = 0
    failed: Counter[str] = Counter()
    for ok, item in streaming_bulk(
        client,
        _actions(Path(path), index, invalid),
        chunk_size=chunk_size,
        raise_on_error=False,
        raise_on_exception=True,
        max_retries=3,
    ):
        result = item.get("create", {})
        if ok:
            loaded += 1
        elif result.get("status") == 409:
            skipped += 1
        else:
            failed[str((result.get("error") or {}).get("type", result.get("status")))] += 1
    client.indices.refresh(index=index)
    return {"loaded": loaded, "skipped": skipped, "invalid": dict(invalid), "failed": dict(failed)}
