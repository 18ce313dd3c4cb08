"""Pass 1 of the build: one sequential read of the log, keeping tens of bytes per record in memory.

Every line is parsed once (orjson); a line of this workload is validated, redacted and reduced to what the
decisions need (timestamp, dedup digest, class labels). The normalised, redacted record goes to a spill
file (next to the outputs, deleted after the build) as two lines: its train / val line, already encoded (most
records end up in train / val: the encoding is done here, in the parallel scan, and writing those files is
a copy), then the rest of the record (what the train line leaves out or changes, a few hundred bytes).
:class:`RecordReader` reads the chosen ones back by offset when the files are written: no second parse,
validation or redaction, and a cheap seek whatever the input format (a gzip stream cannot seek backwards;
Parquet has no lines).
"""

from __future__ import annotations

import gzip
import zlib
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from flywheel.datasets import formats
from flywheel.datasets.keys import answer, classification_label, tool_label
from flywheel.datasets.progress import EVERY_LINES
from flywheel.datasets.types import TOOL_CALLING
from flywheel.records import jsonio
from flywheel.records.keys import dedup_digest
from flywheel.records.lines import DEFAULT_MAX_RECORD_BYTES, RECORD_TOO_LARGE, bounded_lines, skip_line
from flywheel.records.shape import Record
from flywheel.records.sources import attribution_problem
from flywheel.records.validation import Rejected, parse_line, validate

HAS_CALL, TRUNCATED = 1, 2  # flag bits
# First byte of a spilled train / val line: the record offers tools (the line carries them, as a tool-calling
# workload's does) or not (the line is the same for every workload type).
WITH_TOOLS, NO_TOOLS = b"T", b"N"
_SPACE_START = (b"", b"\n", b"\r", b" ", b"\t", b"\x0b", b"\x0c")  # a blank line starts with one of these
CONTAINS_PII = "contains_pii"  # invalid reason under pii.mode drop_record
OTHER_IDS_KEPT = 20  # workload ids of other workloads remembered (for "no such workload (known: ...)")

Progress = Callable[[int, int], None]  # (bytes of the input read, lines read)


class InputError(ValueError):
    """The input cannot be read to its end (a truncated or corrupt file); the message is one line."""


# record -> (redacted record, counts by kind, counts by "<place> <kind>")
Redact = Callable[[Record], tuple[Record, dict[str, int], dict[str, int]]]


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
    pii_places: Counter[str] = field(default_factory=Counter)  # "<place> <kind>" -> count
    spills: list[tuple[Path, int]] = field(default_factory=list)  # (file, first global offset in it)
    first_line: dict[str, int] = field(default_factory=dict)  # reason -> line number of its first rejection
    other_ids: list[str] = field(default_factory=list)  # some of the other workloads' ids, sorted

    def release(self) -> None:
        """Drop the per-record arrays (the spill files stay): the build keeps only what it took from them."""
        for name in _ARRAYS:
            setattr(self, name, getattr(self, name)[:0].copy())

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


def _parquet_lines(
    path: Path, workload_id: str, counts: Counter[str], others: set[str], max_bytes: int
) -> Iterator[bytes | int]:
    """Rows as JSON lines (request/response may be JSON string columns), or the size of one over ``max_bytes``;
    other workloads' rows only counted. (A row is whole in memory here: Parquet has no lines to skip.)"""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's errors have no common base but Exception
        raise InputError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from None
    for batch in pf.iter_batches(batch_size=2000):
        for row in batch.to_pylist():
            wid = row.get("workload_id")
            if isinstance(wid, str) and wid != workload_id:
                counts["other"] += 1
                if len(others) < OTHER_IDS_KEPT:
                    others.add(wid[:100])
                continue
            for key in ("request", "response"):
                if isinstance(row.get(key), str):
                    with suppress(ValueError):  # left a string: validation names it
                        row[key] = jsonio.loads(row[key])
            line = jsonio.dumps_compact_default(row)
            yield line if len(line) <= max_bytes else len(line)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def split_record(rec: Record) -> bytes:
    """The two spill lines of a normalised record: its train line (as a tool-calling workload's, after a
    :data:`WITH_TOOLS` / :data:`NO_TOOLS` byte) and the rest, from which :func:`joined` rebuilds the record."""
    request, response = rec["request"], rec["response"]
    tools = request.get("tools")
    choice = response["choices"][0]
    rest = {
        "record": {k: v for k, v in rec.items() if k not in ("request", "response")},
        "request": {k: v for k, v in request.items() if k != "messages" and not (k == "tools" and tools)},
        "response": {k: v for k, v in response.items() if k != "choices"},
        "choice": {k: v for k, v in choice.items() if k != "message"},
        "answer": choice["message"],
        "null_content": [  # the train line writes "" for these
            i for i, m in enumerate(request["messages"]) if m["role"] == "assistant" and m.get("content") is None
        ],
    }
    train = formats.dumps_bytes(formats.train_line(rec, TOOL_CALLING))
    return b"".join((WITH_TOOLS if tools else NO_TOOLS, train, b"\n", jsonio.dumps_compact(rest), b"\n"))


def joined(train_line: bytes, rest_line: bytes) -> Record:
    """The record :func:`split_record` split (key order aside: every output is written with sorted keys)."""
    train, rest = jsonio.loads(train_line[1:]), jsonio.loads(rest_line)
    history = train["messages"][:-1]
    for i in rest["null_content"]:
        history[i]["content"] = None
    request = rest["request"]
    request["messages"] = history
    if "tools" in train:
        request["tools"] = train["tools"]
    response = rest["response"]
    response["choices"] = [{**rest["choice"], "message": rest["answer"]}]
    return cast(Record, {**rest["record"], "request": request, "response": response})


class RecordReader:
    """A validated (and redacted) record from the spill files, read back by its global offset."""

    def __init__(self, spills: list[tuple[Path, int]]) -> None:
        self._files: list[IO[bytes]] = [path.open("rb") for path, _ in spills]
        self._bases = [base for _, base in spills]

    def _seek(self, offset: int) -> IO[bytes]:
        part = bisect_right(self._bases, offset) - 1
        f = self._files[part]
        f.seek(offset - self._bases[part])
        return f

    def record(self, offset: int) -> Record:
        f = self._seek(offset)
        return joined(f.readline(), f.readline())

    def train_line(self, offset: int, workload_type: str) -> bytes:
        """The record's train / val line with its newline: the one encoded during the scan, or encoded now for
        a record offering tools in a workload that is not tool calling (its line leaves the tools out)."""
        f = self._seek(offset)
        line = f.readline()
        if line[:1] == NO_TOOLS or workload_type == TOOL_CALLING:
            return line[1:]
        return formats.dumps_bytes(formats.train_line(joined(line, f.readline()), workload_type)) + b"\n"

    def close(self) -> None:
        for f in self._files:
            f.close()


@dataclass(frozen=True)
class ScanJob:
    """One process's share of the input: the byte range [start, end) of a plain JSONL file (whole file for
    gzip and Parquet), and where to spill."""

    path: Path
    workload_id: str
    client_id: str | None
    pii_kinds: tuple[str, ...] | None
    phone_region: str
    drop_pii: bool
    spill: Path
    start: int = 0
    end: int | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    progress_file: Path | None = None  # a worker writes "<bytes read> <lines>" here now and then


def scan(jobs: list[ScanJob], workers: int = 1, progress: Progress | None = None) -> Scan:
    """Scan every job (each in its own worker process when ``workers`` > 1) and merge the parts in file order.

    Workers are plain ``python -m flywheel.datasets.scan`` subprocesses, not ``multiprocessing``: that would
    re-import the caller's main module (a script, an Airflow task runner) in every worker."""
    if len(jobs) == 1 or workers <= 1:
        done = [0, 0]  # bytes and lines of the jobs already scanned

        def report(at: int, lines: int) -> None:
            if progress is not None:
                progress(done[0] + at, done[1] + lines)

        parts = []
        for job in jobs:
            parts.append(scan_part(job, report))
            done[0] += _job_bytes(job)
            done[1] += parts[-1].lines
        return _merge(parts)
    from flywheel.datasets.workers import worker_processes

    jobs = [replace(job, progress_file=job.spill.with_suffix(".progress")) for job in jobs]

    def tick() -> None:
        if progress is not None:
            at = lines = 0
            for job in jobs:
                with suppress(OSError, ValueError):
                    a, n = job.progress_file.read_text().split()  # type: ignore[union-attr]
                    at, lines = at + int(a), lines + int(n)
            progress(at, lines)

    with worker_processes("flywheel.datasets.scan", "scan", tick=tick) as start:
        for job in jobs:
            start(_encode_job(job))
    parts = [_load_part(job) for job in jobs]
    return _merge(parts)


def _job_bytes(job: ScanJob) -> int:
    if job.end is not None:
        return job.end - job.start
    with suppress(OSError):
        return job.path.stat().st_size - job.start
    return 0


def _encode_job(job: ScanJob) -> str:
    return jsonio.dumps_compact(
        {
            **{k: getattr(job, k) for k in job.__dataclass_fields__},
            "path": str(job.path),
            "spill": str(job.spill),
            "progress_file": str(job.progress_file) if job.progress_file else None,
        }
    ).decode()


def _decode_job(text: str) -> ScanJob:
    raw = jsonio.loads(text)
    kinds = raw.pop("pii_kinds")
    progress = raw.pop("progress_file")
    return ScanJob(
        **{**raw, "path": Path(raw["path"]), "spill": Path(raw["spill"]), "pii_kinds": tuple(kinds) if kinds else None},
        progress_file=Path(progress) if progress else None,
    )


_ARRAYS = ("header_ts", "offsets", "status", "ts", "keys", "tool_code", "class_code", "flags")


def _save_part(part: Scan, job: ScanJob) -> None:
    np.savez(job.spill.with_suffix(".npz"), **{name: getattr(part, name) for name in _ARRAYS})
    meta = {
        "reasons": part.reasons,
        "tool_labels": part.tool_labels,
        "class_labels": part.class_labels,
        "early_invalid": part.early_invalid,
        "other_workloads": part.other_workloads,
        "blank": part.blank,
        "lines": part.lines,
        "pii": part.pii,
        "pii_records": part.pii_records,
        "pii_places": part.pii_places,
        "first_line": part.first_line,
        "other_ids": part.other_ids,
    }
    job.spill.with_suffix(".meta.json").write_bytes(jsonio.dumps_compact(meta))


def _load_part(job: ScanJob) -> Scan:
    meta = jsonio.loads(job.spill.with_suffix(".meta.json").read_bytes())
    with np.load(job.spill.with_suffix(".npz")) as arrays:
        data = {name: arrays[name] for name in _ARRAYS}
    return Scan(
        **data,
        **{
            **meta,
            "early_invalid": Counter(meta["early_invalid"]),
            "pii": Counter(meta["pii"]),
            "pii_places": Counter(meta["pii_places"]),
        },
        spills=[(job.spill, 0)],
    )


def plain_ranges(path: Path, n: int) -> list[tuple[int, int | None]]:
    """``n`` byte ranges of a plain file, each starting at the beginning of a line."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as f:
        for i in range(1, n):
            f.seek(max(size * i // n - 1, cuts[-1]))
            skip_line(f)  # to the start of the next line (in chunks: a line may be huge)
            cuts.append(max(f.tell(), cuts[-1]))
    cuts.append(size)
    return [(a, b) for a, b in pairwise(cuts) if b > a] or [(0, None)]


def _merge(parts: list[Scan]) -> Scan:
    if len(parts) == 1:
        return parts[0]
    reasons, tools, classes = _Codes(), _Codes(), _Codes()
    spills: list[tuple[Path, int]] = []
    base = 0
    for p in parts:  # renumber codes and offsets into the merged space, in place
        r = np.array([0, *[1 + reasons.code(name) for name in p.reasons]], dtype=np.int16)
        p.status = r[p.status]
        t = np.array([*[tools.code(name) for name in p.tool_labels], -1], dtype=np.int32)
        p.tool_code = t[p.tool_code]  # -1 indexes the trailing -1
        c = np.array([*[classes.code(name) for name in p.class_labels], -1], dtype=np.int32)
        p.class_code = c[p.class_code]
        p.offsets = np.where(p.offsets >= 0, p.offsets + base, -1)
        spills += [(path, start + base) for path, start in p.spills]
        base += sum(path.stat().st_size for path, _ in p.spills)
    columns: dict[str, np.ndarray] = {}
    for name in _ARRAYS:  # one column at a time, each part's copy freed at once: the peak is one column
        columns[name] = np.concatenate([getattr(p, name) for p in parts])
        for p in parts:
            setattr(p, name, columns[name][:0])
    early: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    places: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    lines_before = 0
    for p in parts:  # parts are consecutive ranges of the file: their line numbers continue
        early.update(p.early_invalid)
        pii.update(p.pii)
        places.update(p.pii_places)
        for reason, line in p.first_line.items():
            first_line.setdefault(reason, lines_before + line)
        lines_before += p.lines
    return Scan(
        **columns,
        reasons=reasons.names,
        tool_labels=tools.names,
        class_labels=classes.names,
        early_invalid=early,
        other_workloads=sum(p.other_workloads for p in parts),
        blank=sum(p.blank for p in parts),
        lines=sum(p.lines for p in parts),
        pii=pii,
        pii_records=sum(p.pii_records for p in parts),
        pii_places=places,
        spills=spills,
        first_line=first_line,
        other_ids=sorted({wid for p in parts for wid in p.other_ids})[:OTHER_IDS_KEPT],
    )


def _redactor(job: ScanJob) -> Redact | None:
    if job.pii_kinds is None:
        return None
    from flywheel.privacy import Redactor

    return Redactor(job.pii_kinds, region=job.phone_region).redact_record


def scan_part(job: ScanJob, progress: Progress | None = None) -> Scan:
    """Read the job's share of the input once; offsets point into ``job.spill``. ``progress`` is called with
    (bytes of the input read in this part, lines read) every few thousand lines. A truncated or corrupt
    input raises :class:`InputError` naming the line where it broke."""
    path, workload_id, client_id, drop_pii, spill = job.path, job.workload_id, job.client_id, job.drop_pii, job.spill
    redact = _redactor(job)
    counts: Counter[str] = Counter()
    header_ts, offsets, ts = array("d"), array("q"), array("q")
    status, tool_code, class_code = array("h"), array("i"), array("i")
    flags = bytearray()
    keys = bytearray()
    reasons, tools, classes = _Codes(), _Codes(), _Codes()
    early: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    pii_places: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    others: set[str] = set()
    pii_records = other = blank = lines = 0
    zero_key = bytes(16)
    report = _reporter(job, progress)
    with ExitStack() as stack:
        position_of: Callable[[], int] = lambda: 0  # noqa: E731 - replaced below for files with a position
        if path.suffix == ".parquet":
            source: Any = _parquet_lines(path, workload_id, counts, others, job.max_record_bytes)
        else:
            raw_file = stack.enter_context(path.open("rb"))
            if path.suffix == ".gz":
                position_of = raw_file.tell  # compressed bytes read: the share of the file done
                f = cast(IO[bytes], stack.enter_context(gzip.open(raw_file, "rb")))
            else:
                f = raw_file
                f.seek(job.start)
                position_of = lambda: raw_file.tell() - job.start  # noqa: E731
            source = bounded_lines(f, job.max_record_bytes, job.end)
        out = stack.enter_context(spill.open("wb"))
        position = 0
        lines_iter = iter(source)
        while True:
            try:
                line = next(lines_iter)
            except StopIteration:
                break
            except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                raise InputError(
                    f"{path}: cannot read past line {lines}: {_one_line(exc)} (a truncated or corrupt file?)"
                ) from None
            lines += 1
            if report is not None and not lines % EVERY_LINES:
                report(position_of(), lines)
            if isinstance(line, int):
                early[RECORD_TOO_LARGE] += 1
                first_line.setdefault(RECORD_TOO_LARGE, lines)
                continue
            if line[:1] in _SPACE_START and not line.strip():
                blank += 1
                continue
            raw = parse_line(line)
            if isinstance(raw, Rejected):
                early[raw.reason] += 1
                first_line.setdefault(raw.reason, lines)
                continue
            if raw.get("__rejected__") is not None:  # a snapshot's record of a line rejected upstream
                early[str(raw["__rejected__"])] += 1
                first_line.setdefault(str(raw["__rejected__"]), lines)
                continue
            problem = attribution_problem(raw, client_id)
            if problem:
                early[problem] += 1
                first_line.setdefault(problem, lines)
                continue
            if raw["workload_id"] != workload_id or (client_id is not None and raw["client_id"] != client_id):
                other += 1
                if len(others) < OTHER_IDS_KEPT:
                    others.add(str(raw["workload_id"])[:100])
                continue
            t = raw.get("timestamp")
            header_ts.append(float(t) if isinstance(t, int | float) and not isinstance(t, bool) else -1.0)
            rec = validate(raw)
            reason = rec.reason if isinstance(rec, Rejected) else None
            if reason is None and redact is not None:
                rec, found, places = redact(rec)  # type: ignore[arg-type]
                if found:
                    pii_records += 1
                    pii.update(found)
                    pii_places.update(places)
                    if drop_pii:
                        reason = CONTAINS_PII
            if reason is not None:
                first_line.setdefault(reason, lines)
                offsets.append(-1)
                status.append(1 + reasons.code(reason))
                ts.append(0)
                keys += zero_key
                tool_code.append(-1)
                class_code.append(-1)
                flags.append(0)
                continue
            assert not isinstance(rec, Rejected)
            offered = rec["request"].get("tools")
            data = split_record(rec)
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
                (HAS_CALL if offered and a.get("tool_calls") else 0)
                | (TRUNCATED if rec["response"]["choices"][0].get("finish_reason") == "length" else 0)
            )
        if report is not None:
            report(position_of(), lines)
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
        pii_places=pii_places,
        spills=[(spill, 0)],
        first_line=first_line,
        other_ids=sorted(others),
    )
    return result


def _reporter(job: ScanJob, progress: Progress | None) -> Progress | None:
    """``progress``, or for a worker process a writer of its progress file (read by the parent)."""
    if job.progress_file is None:
        return progress
    target = job.progress_file

    def write(at: int, lines: int) -> None:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(f"{at} {lines}")
        tmp.replace(target)

    return write


if __name__ == "__main__":  # a worker of :func:`scan`
    import sys

    _job = _decode_job(sys.argv[1])
    try:
        _save_part(scan_part(_job), _job)
    except InputError as _exc:
        sys.stderr.write(f"{_exc}\n")
        sys.exit(3)
