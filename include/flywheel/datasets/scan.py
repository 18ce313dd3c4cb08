"""Pass 1 of the build: one sequential read of the log, keeping tens of bytes per record in memory.

Every line is parsed once (orjson); a line of this workload is validated, redacted and reduced to what the
decisions need (timestamp, dedup digest, class labels). The normalised, redacted record goes to a spill
file (plain JSONL next to the outputs, deleted after the build) and :class:`RecordReader` reads the chosen
ones back by offset when the files are written: no second validation or redaction, and a cheap seek
whatever the input format (a gzip stream cannot seek backwards; Parquet has no lines).
"""

from __future__ import annotations

import gzip
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from flywheel.datasets.keys import answer, classification_label, tool_label
from flywheel.records import jsonio
from flywheel.records.keys import dedup_digest
from flywheel.records.sources import attribution_problem
from flywheel.records.validation import Rejected, parse_line, validate

HAS_CALL, TRUNCATED = 1, 2  # flag bits
_SPACE_START = (b"", b"\n", b"\r", b" ", b"\t", b"\x0b", b"\x0c")  # a blank line starts with one of these
CONTAINS_PII = "contains_pii"  # invalid reason under pii.mode drop_record

Redact = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, int]]]


@dataclass
class Scan:
    """Per line of this workload, in file order; ``status`` 0 = valid, else 1 + index into ``reasons``."""

    header_ts: np.ndarray
    offsets: np.ndarray
    status: np.ndarray
    ts: np.ndarray
    keys: np.ndarray  # (n, 2) uint64, big-endian halves of the 16-byte digest: sorts like its hex string
    tool_code: np.ndarray
    class_code: np.ndarray
    flags: np.ndarray
    reasons: list[str]
    tool_labels: list[str]
    class_labels: list[str]
    early_invalid: Counter[str]  # rejected before ordering (bad lines, unattributable): always read
    other_workloads: int
    blank: int
    lines: int
    pii: Counter[str] = field(default_factory=Counter)
    pii_records: int = 0

    def key_hex(self, row: int) -> str:
        return int(self.keys[row, 0]).to_bytes(8, "big").hex() + int(self.keys[row, 1]).to_bytes(8, "big").hex()


class _Codes:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        if name is None:
            return -1
        at = self._index.get(name)
        if at is None:
            at = self._index[name] = len(self.names)
            self.names.append(name)
        return at


def _parquet_lines(path: Path, workload_id: str, counts: Counter[str]) -> Iterator[bytes]:
    """Rows as JSON lines (request/response may be JSON string columns); other workloads' rows only counted."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=2000):
        for row in batch.to_pylist():
            wid = row.get("workload_id")
            if isinstance(wid, str) and wid != workload_id:
                counts["other"] += 1
                continue
            for key in ("request", "response"):
                if isinstance(row.get(key), str):
                    with suppress(ValueError):  # left a string: validation names it
                        row[key] = jsonio.loads(row[key])
            yield jsonio.dumps_compact_default(row)


class RecordReader:
    """A validated (and redacted) record from the spill file, read back by offset."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("rb")

    def record(self, offset: int) -> dict[str, Any]:
        self._file.seek(offset)
        rec: dict[str, Any] = jsonio.loads(self._file.readline())
        return rec

    def close(self) -> None:
        self._file.close()


def scan(
    path: Path,
    workload_id: str,
    client_id: str | None,
    redact: Redact | None,
    drop_pii: bool,
    spill: Path,
) -> Scan:
    """Read the whole input once; the scan's offsets point into ``spill``."""
    counts: Counter[str] = Counter()
    header_ts, offsets, ts = array("d"), array("q"), array("q")
    status, tool_code, class_code = array("h"), array("i"), array("i")
    flags = bytearray()
    keys = bytearray()
    reasons, tools, classes = _Codes(), _Codes(), _Codes()
    early: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    pii_records = other = blank = lines = 0
    zero_key = bytes(16)
    with ExitStack() as stack:
        if path.suffix == ".parquet":
            source: Any = _parquet_lines(path, workload_id, counts)
        elif path.suffix == ".gz":
            source = stack.enter_context(gzip.open(path, "rb"))
        else:
            source = stack.enter_context(path.open("rb"))
        out = stack.enter_context(spill.open("wb"))
        position = 0
        for line in source:
            lines += 1
            if line[:1] in _SPACE_START and not line.strip():
                blank += 1
                continue
            raw = parse_line(line)
            if isinstance(raw, Rejected):
                early[raw.reason] += 1
                continue
            if raw.get("__rejected__") is not None:  # a snapshot's record of a line rejected upstream
                early[str(raw["__rejected__"])] += 1
                continue
            problem = attribution_problem(raw, client_id)
            if problem:
                early[problem] += 1
                continue
            if raw["workload_id"] != workload_id or (client_id is not None and raw["client_id"] != client_id):
                other += 1
                continue
            t = raw.get("timestamp")
            header_ts.append(float(t) if isinstance(t, int | float) and not isinstance(t, bool) else -1.0)
            rec = validate(raw)
            reason = rec.reason if isinstance(rec, Rejected) else None
            if reason is None and redact is not None:
                rec, found = redact(rec)  # type: ignore[arg-type]
                if found:
                    pii_records += 1
                    pii.update(found)
                    if drop_pii:
                        reason = CONTAINS_PII
            if reason is not None:
                offsets.append(-1)
                status.append(1 + reasons.code(reason))
                ts.append(0)
                keys += zero_key
                tool_code.append(-1)
                class_code.append(-1)
                flags.append(0)
                continue
            assert not isinstance(rec, Rejected)
            data = jsonio.dumps_compact(rec) + b"\n"
            out.write(data)
            offsets.append(position)
            position += len(data)
            a = answer(rec)
            status.append(0)
            ts.append(rec["timestamp"])
            keys += dedup_digest(rec)
            tool_code.append(tools.code(tool_label(rec)))
            class_code.append(classes.code(classification_label(rec)))
            flags.append(
                (HAS_CALL if rec["request"].get("tools") and a.get("tool_calls") else 0)
                | (TRUNCATED if rec["response"]["choices"][0].get("finish_reason") == "length" else 0)
            )
    other += counts["other"]
    n = len(offsets)
    result = Scan(
        header_ts=np.frombuffer(header_ts, dtype=np.float64) if n else np.zeros(0),
        offsets=np.frombuffer(offsets, dtype=np.int64) if n else np.zeros(0, np.int64),
        status=np.frombuffer(status, dtype=np.int16) if n else np.zeros(0, np.int16),
        ts=np.frombuffer(ts, dtype=np.int64) if n else np.zeros(0, np.int64),
        keys=np.frombuffer(keys, dtype=">u8").astype(np.uint64).reshape(-1, 2),
        tool_code=np.frombuffer(tool_code, dtype=np.int32) if n else np.zeros(0, np.int32),
        class_code=np.frombuffer(class_code, dtype=np.int32) if n else np.zeros(0, np.int32),
        flags=np.frombuffer(flags, dtype=np.uint8),
        reasons=reasons.names,
        tool_labels=tools.names,
        class_labels=classes.names,
        early_invalid=early,
        other_workloads=other,
        blank=blank,
        lines=lines + counts["other"],
        pii=pii,
        pii_records=pii_records,
    )
    return result
