"""Logs -> eval / train / val (+ ICL) dataset files and stats.json; memory grows by tens of bytes per record.

1. **Scan** (:mod:`flywheel.datasets.scan`): one sequential pass parses every line once, validates it
   (counting every rejection by reason), redacts PII, keeps ~51 bytes per record and spills the
   normalised record to disk as its encoded train line plus the rest of it (byte ranges of a large plain
   JSONL input in worker processes).
2. **Decide** (:mod:`flywheel.datasets.decide`), on those arrays: newest-first order, the ``limit``, dedup
   (newest wins); then the workload type, the quality filters, the stratified split and ICL ordering. Each
   array is dropped once decided; from the split on, a record is its spill offset and label code.
3. **Write** (:mod:`flywheel.datasets.write`): the chosen records are read back by offset and written
   (large files in slices by worker processes, joined in order; train / val lines are copied).

``read = used + invalid + duplicates + filtered`` always holds, and when the whole input is read
``read + other_workloads + blank_lines = lines in the file``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.datasets import formats, icl
from flywheel.datasets.decide import decide
from flywheel.datasets.keys import last_user_text
from flywheel.datasets.progress import Progress
from flywheel.datasets.scan import (
    HAS_CALL,
    OTHER_IDS_KEPT,
    TRUNCATED,
    InputError,
    RecordReader,
    Scan,
    ScanJob,
    plain_ranges,
    scan,
)
from flywheel.datasets.split import SplitError, split_coded
from flywheel.datasets.types import CLASSIFICATION, GENERIC, MISSING_LABEL, TOOL_CALLING
from flywheel.datasets.types import TRUNCATED as TRUNCATED_REASON
from flywheel.datasets.write import write_file
from flywheel.records.validation import NOT_JSON, NOT_OBJECT

PARALLEL_SCAN_BYTES = 64 * 2**20  # smaller inputs are scanned in-process: starting workers costs ~1 s


class DatasetError(ValueError):
    """The input cannot make usable datasets; the message is one line."""


@dataclass(frozen=True)
class BuildOptions:
    workload_id: str
    client_id: str | None
    workload_type: str
    split: Any  # flywheel.config.SplitConfig
    icl: Any  # flywheel.config.IclConfig
    context_length: int = 8192
    pii: Any = None  # flywheel.config.PiiConfig; None = off


@dataclass
class BuildResult:
    workload_type: str
    stats: dict[str, object]
    files: dict[str, Path] = field(default_factory=dict)


def pii_places(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """``{"<place> <kind>": n}`` -> ``{place: {kind: n}}``, sorted."""
    out: dict[str, dict[str, int]] = {}
    for key, n in sorted(counts.items()):
        place, _, kind = key.rpartition(" ")
        out.setdefault(place, {})[kind] = n
    return out


def _check_pii(pii: Any) -> None:
    if pii is None or pii.mode == "off":
        return
    from flywheel.privacy import detectors

    try:
        detectors(pii.kinds, pii.phone_region)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def scan_workers() -> int:
    """``$FLYWHEEL_SCAN_WORKERS``, else the CPUs this process may use (at most 4)."""
    env = os.environ.get("FLYWHEEL_SCAN_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _jobs(input_path: Path, options: BuildOptions, tmp: Path, workers: int) -> list[ScanJob]:
    pii = options.pii if options.pii is not None and options.pii.mode != "off" else None
    job = ScanJob(
        input_path,
        options.workload_id,
        options.client_id,
        tuple(pii.kinds) if pii else None,
        pii.phone_region if pii else "US",
        bool(pii and pii.mode == "drop_record"),
        tmp / "records-0.jsonl",
        max_record_bytes=options.split.max_record_bytes,
    )
    plain = input_path.suffix not in (".gz", ".parquet")
    if not plain or workers <= 1 or input_path.stat().st_size < PARALLEL_SCAN_BYTES:
        return [job]
    return [
        replace(job, start=start, end=end, spill=tmp / f"records-{i}.jsonl")
        for i, (start, end) in enumerate(plain_ranges(input_path, workers))
    ]


def _detect(s: Scan, kept: np.ndarray, explicit: str) -> str:
    """``tool_calling`` if tools are offered and responses call them; ``classification`` if most responses
    carry a bracketed label; else ``generic``. An explicit type overrides detection."""
    if explicit != "auto":
        return explicit
    if not len(kept):
        return GENERIC
    if (s.flags[kept] & HAS_CALL).any():
        return TOOL_CALLING
    labelled = int((s.class_code[kept] >= 0).sum())
    return CLASSIFICATION if labelled * 2 >= len(kept) else GENERIC


def _labels(s: Scan, rows: np.ndarray, wtype: str) -> tuple[np.ndarray, list[str]] | None:
    """Label codes of ``rows`` renumbered in the sorted order of their names (None: no labels)."""
    if wtype == TOOL_CALLING:
        codes, names = s.tool_code[rows], s.tool_labels
    elif wtype == CLASSIFICATION:
        codes, names = s.class_code[rows], s.class_labels
    else:
        return None
    order = sorted(range(len(names)), key=lambda c: names[c])
    renumber = np.empty(max(len(names), 1), dtype=np.int32)
    renumber[order] = np.arange(len(names))
    return renumber[codes], [names[c] for c in order]


OUTPUTS = ("eval.jsonl", "train.jsonl", "val.jsonl", "icl.jsonl", "stats.json")


def build_datasets(
    input_path: Path,
    options: BuildOptions,
    out_dir: Path,
    embedder: icl.Embedder | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build into a staging directory inside ``out_dir``, then move the files into place: ``out_dir`` never
    holds a mix of two builds (a file this build does not make, e.g. ``icl.jsonl`` without ICL, is removed).
    On a :class:`DatasetError` the outputs are removed and ``stats.json`` says why (``"error"``) with the
    counts so far."""
    input_path, out_dir = Path(input_path), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"output directory {out_dir} is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".build-"))
    except OSError as exc:
        raise DatasetError(f"cannot write to output directory {out_dir}: {exc.strerror or exc}") from None
    stats: dict[str, object] = {"workload_id": options.workload_id, "client_id": options.client_id}
    own = progress is None  # an Airflow task: progress lines in its log
    if progress is None:
        progress = Progress(_input_bytes(input_path), f"scan of {input_path.name}")
    try:
        try:
            result = _staged(input_path, options, stage, embedder, progress, stats)
        except DatasetError as exc:
            stats = {"error": str(exc), **stats}
            (stage / "stats.json").write_text(formats.dumps(stats) + "\n")
            _publish(stage, out_dir, [])
            raise
        _publish(stage, out_dir, [p.name for p in result.files.values()])
        result.files = {k: out_dir / p.name for k, p in result.files.items()}
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if own:
            progress.close()


def _input_bytes(path: Path) -> int | None:
    try:
        return None if path.suffix == ".parquet" else path.stat().st_size
    except OSError:
        return None


def _publish(stage: Path, out_dir: Path, names: list[str]) -> None:
    """Move ``names`` (then stats.json) from ``stage`` into ``out_dir``, each by an atomic rename, and remove
    the outputs of an earlier build that this one did not make."""
    for name in names:
        os.replace(stage / name, out_dir / name)
    for name in OUTPUTS:
        if name not in names and name != "stats.json":
            (out_dir / name).unlink(missing_ok=True)
    os.replace(stage / "stats.json", out_dir / "stats.json")


def _staged(
    input_path: Path,
    options: BuildOptions,
    stage: Path,
    embedder: icl.Embedder | None,
    progress: Progress | None,
    stats: dict[str, object],
) -> BuildResult:
    if not input_path.is_file():
        if input_path.is_dir():
            raise DatasetError(f"{input_path} is a directory, not a log file")
        raise DatasetError(f"log file not found: {input_path}")
    _check_pii(options.pii)
    workers = scan_workers()
    tmp = stage / "scan"
    tmp.mkdir()
    try:
        s = scan(_jobs(input_path, options, tmp, workers), workers, progress)
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    except RuntimeError as exc:  # a scan worker failed; an InputError there is its one-line message
        raise DatasetError(str(exc)) from None
    except OSError as exc:  # e.g. the input is not readable, the disk is full
        raise DatasetError(f"{exc.filename or input_path}: {exc.strerror or exc}") from None
    reader = RecordReader(s.spills)
    try:
        result = _build(s, reader, input_path, options, stage, embedder, tmp, workers, stats)
    finally:
        reader.close()
    return result


def _build(
    s: Scan,
    reader: RecordReader,
    input_path: Path,
    options: BuildOptions,
    out_dir: Path,
    embedder: icl.Embedder | None,
    tmp: Path,
    workers: int,
    partial: dict[str, object],
) -> BuildResult:
    of_workload = len(s.status)  # lines of this workload (decide drops the arrays it is done with)
    d = decide(s, options.split.limit, lambda row: reader.record(int(s.offsets[row])))
    counts = {"read": d.read, "invalid": d.invalid, "duplicates": d.duplicates}
    first_line = {reason: s.first_line[reason] for reason in d.invalid if reason in s.first_line}
    partial.update(
        counts,
        invalid_first_line=first_line,
        other_workloads=s.other_workloads,
        blank_lines=s.blank,
        lines=s.lines,
    )
    n_invalid = sum(d.invalid.values())
    if d.read == 0 or (of_workload == 0 and s.other_ids):  # no line of this workload (some unattributable)
        raise DatasetError(_nothing_read(s, input_path, options, n_invalid))
    wtype = _detect(s, d.kept, options.workload_type)
    filtered: Counter[str] = Counter()
    truncated = (s.flags[d.kept] & TRUNCATED) != 0
    unlabelled = (s.class_code[d.kept] < 0) if wtype == CLASSIFICATION else np.zeros(len(d.kept), dtype=bool)
    if truncated.any():
        filtered[TRUNCATED_REASON] = int(truncated.sum())
    if (unlabelled & ~truncated).any():
        filtered[MISSING_LABEL] = int((unlabelled & ~truncated).sum())
    usable = d.kept[~(truncated | unlabelled)]
    d_invalid = d.invalid
    del truncated, unlabelled, d
    coded = _labels(s, usable, wtype)
    offsets = s.offsets[usable]  # from here on a record is its spill offset
    n_usable = len(usable)
    del usable
    s.release()
    sp = options.split
    n_filtered = sum(filtered.values())
    partial.update(filtered=n_filtered, filtered_by_reason=dict(sorted(filtered.items())), used=n_usable)
    tail = f"(read {counts['read']}: {n_invalid} invalid, {counts['duplicates']} duplicates, {n_filtered} filtered)"
    if n_usable == 0 and n_invalid:
        tail += f"; {_reasons(d_invalid, first_line, input_path)}"
    if n_usable < sp.min_total_records:
        raise DatasetError(f"only {n_usable} usable records, min_total_records is {sp.min_total_records} {tail}")
    try:
        parts = split_coded(n_usable, coded, sp.eval_size, sp.val_ratio, sp.random_seed, sp.min_train_records)
    except SplitError as exc:
        raise DatasetError(f"{exc} {tail}") from None
    files, icl_stats = _write(out_dir, s.spills, reader, offsets, coded, parts, wtype, options, embedder, tmp, workers)
    classes: dict[str, dict[str, int]] = {}
    for name, idx in (("eval", parts.eval), ("train", parts.train), ("val", parts.val)):
        if coded is None:
            if len(idx):
                classes.setdefault("all", {"eval": 0, "train": 0, "val": 0})[name] += len(idx)
            continue
        codes, names = coded
        for code, count in zip(*np.unique(codes[idx], return_counts=True), strict=True):
            classes.setdefault(names[int(code)], {"eval": 0, "train": 0, "val": 0})[name] += int(count)
    stats: dict[str, object] = {
        **counts,
        "filtered": sum(filtered.values()),
        "filtered_by_reason": dict(sorted(filtered.items())),
        "used": n_usable,
        "workload_type": wtype,
        "classes": dict(sorted(classes.items())),
        "sizes": {"eval": len(parts.eval), "train": len(parts.train), "val": len(parts.val)},
        "pooled_classes": parts.pooled,
        "stratified": parts.stratified,
        "seed": sp.random_seed,
        "workload_id": options.workload_id,
        "client_id": options.client_id,
        "other_workloads": s.other_workloads,
        "blank_lines": s.blank,
        "lines": s.lines,
        "invalid_first_line": first_line,
        "max_record_bytes": sp.max_record_bytes,
        **icl_stats,
    }
    if options.pii is not None and options.pii.mode != "off":
        stats["pii"] = dict(sorted(s.pii.items()))
        stats["pii_records"] = s.pii_records
        stats["pii_places"] = pii_places(s.pii_places)
        stats["pii_mode"] = options.pii.mode
    (out_dir / "stats.json").write_text(formats.dumps(stats) + "\n")
    return BuildResult(workload_type=wtype, stats=stats, files=dict(files))


def _write(
    out_dir: Path,
    spills: list[tuple[Path, int]],
    reader: RecordReader,
    offsets: np.ndarray,
    coded: tuple[np.ndarray, list[str]] | None,
    parts: Any,
    wtype: str,
    options: BuildOptions,
    embedder: icl.Embedder | None,
    tmp: Path,
    workers: int,
) -> tuple[dict[str, Path], dict[str, object]]:
    """The files written, and the ICL figures for stats.json (none without ICL)."""
    files: dict[str, Path] = {}
    icl_stats: dict[str, object] = {}
    with_icl = bool(options.icl.enabled and len(parts.train))
    for name, idx in (("eval", parts.eval), ("train", parts.train), ("val", parts.val)):
        path = out_dir / f"{name}.jsonl"
        write_file(spills, offsets[idx], name, wtype, path, tmp, workers)
        files[name] = path
    if with_icl:
        train_offsets = offsets[parts.train]
        if coded is not None:
            codes, names = coded[0][parts.train], coded[1]
        else:
            codes, names = np.zeros(len(train_offsets), dtype=np.int32), ["_"]
        eval_offsets = offsets[parts.eval].tolist()
        evals = [reader.record(off) for off in eval_offsets]
        selector = icl.IclSelector(
            train_offsets,
            codes,
            names,
            lambda j: icl.render_example(reader.record(int(train_offsets[j]))),
            options.icl,
            options.context_length,
            options.split.random_seed,
            embedder,
            lambda start, stop: [last_user_text(reader.record(off)) for off in train_offsets[start:stop].tolist()],
            evals,
        )
        with_examples, total = 0, 0
        path = out_dir / "icl.jsonl"
        with path.open("wb") as f:
            for row, rec in enumerate(evals):
                examples = selector.select(rec, eval_offsets[row], selector.candidates(row))
                messages = icl.inject(rec["request"]["messages"], examples) if examples else None
                with_examples += bool(examples)
                total += len(examples)
                f.write(formats.dumps_bytes(formats.eval_line(rec, messages)) + b"\n")
        files["icl"] = path
        icl_stats = {
            "icl": {
                "selection": options.icl.selection,
                "records": len(evals),
                "with_examples": with_examples,
                "mean_examples": round(total / len(evals), 2) if evals else 0.0,
                "window_tokens": selector.window,
            }
        }
    return files, icl_stats


def _nothing_read(s: Scan, input_path: Path, options: BuildOptions, n_invalid: int) -> str:
    """Why no line of the input is a record of this workload, in one line."""
    wid = options.workload_id
    if s.lines == s.blank:
        return f"{input_path} has no records (empty file)"
    client = f" and client '{options.client_id}'" if options.client_id else ""
    if s.other_ids and options.client_id is not None and wid in s.other_ids:
        return f"no records for workload '{wid}'{client} in {input_path} (workload '{wid}' has other clients)"
    if s.other_ids:
        known = ", ".join(s.other_ids) + (", ..." if len(s.other_ids) >= OTHER_IDS_KEPT else "")
        unread = f"; {n_invalid} line(s) of no workload" if n_invalid else ""
        return f"no such workload '{wid}' in {input_path} (known: {known}){unread}"
    return f"no records for workload '{wid}'{client} in {input_path}"


def _reasons(invalid: dict[str, int], first_line: dict[str, int], input_path: Path) -> str:
    """``invalid: not_json 22 (first at line 1); ...`` and, when the file is not JSON Lines, what it is."""
    parts = [
        f"{reason} {n}" + (f" (first at line {first_line[reason]})" if reason in first_line else "")
        for reason, n in sorted(invalid.items(), key=lambda kv: -kv[1])[:3]
    ]
    text = "invalid: " + "; ".join(parts)
    hint = _not_jsonl_hint(input_path) if set(invalid) & {NOT_JSON, NOT_OBJECT} else None
    return f"{text}; {hint}" if hint else text


def _not_jsonl_hint(path: Path) -> str | None:
    if path.suffix in (".gz", ".parquet"):
        return None
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b":
        return "the file is gzip-compressed: name it .gz"
    if b"\x00" in head:
        return "the file is binary, not JSON Lines (one JSON object per line)"
    if head.lstrip()[:1] == b"[":
        return "the file is a JSON array: write one JSON object per line (JSON Lines)"
    return None
