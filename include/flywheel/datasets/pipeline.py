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
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.datasets import formats, icl
from flywheel.datasets.decide import decide
from flywheel.datasets.keys import last_user_text
from flywheel.datasets.scan import HAS_CALL, TRUNCATED, RecordReader, Scan, ScanJob, plain_ranges, scan
from flywheel.datasets.split import SplitError, split_coded
from flywheel.datasets.types import CLASSIFICATION, GENERIC, MISSING_LABEL, TOOL_CALLING
from flywheel.datasets.types import TRUNCATED as TRUNCATED_REASON
from flywheel.datasets.write import write_file

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
    stats: dict[str, Any]
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


def build_datasets(
    input_path: Path, options: BuildOptions, out_dir: Path, embedder: icl.Embedder | None = None
) -> BuildResult:
    input_path = Path(input_path)
    if not input_path.is_file():
        raise DatasetError(f"log file not found: {input_path}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_pii(options.pii)
    workers = scan_workers()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".scan-") as tmp:
        s = scan(_jobs(input_path, options, Path(tmp), workers), workers)
        reader = RecordReader(s.spills)
        try:
            return _build(s, reader, input_path, options, out_dir, embedder, Path(tmp), workers)
        finally:
            reader.close()


def _build(
    s: Scan,
    reader: RecordReader,
    input_path: Path,
    options: BuildOptions,
    out_dir: Path,
    embedder: icl.Embedder | None,
    tmp: Path,
    workers: int,
) -> BuildResult:
    d = decide(s, options.split.limit, lambda row: reader.record(int(s.offsets[row])))
    counts = {"read": d.read, "invalid": d.invalid, "duplicates": d.duplicates}
    n_invalid = sum(d.invalid.values())
    if d.read == 0:
        raise DatasetError(
            f"no records for workload '{options.workload_id}'"
            + (f" and client '{options.client_id}'" if options.client_id else "")
            + f" in {input_path}"
        )
    wtype = _detect(s, d.kept, options.workload_type)
    filtered: Counter[str] = Counter()
    truncated = (s.flags[d.kept] & TRUNCATED) != 0
    unlabelled = (s.class_code[d.kept] < 0) if wtype == CLASSIFICATION else np.zeros(len(d.kept), dtype=bool)
    if truncated.any():
        filtered[TRUNCATED_REASON] = int(truncated.sum())
    if (unlabelled & ~truncated).any():
        filtered[MISSING_LABEL] = int((unlabelled & ~truncated).sum())
    usable = d.kept[~(truncated | unlabelled)]
    del truncated, unlabelled, d
    coded = _labels(s, usable, wtype)
    offsets = s.offsets[usable]  # from here on a record is its spill offset
    n_usable = len(usable)
    del usable
    s.release()
    sp = options.split
    n_filtered = sum(filtered.values())
    tail = f"(read {counts['read']}: {n_invalid} invalid, {counts['duplicates']} duplicates, {n_filtered} filtered)"
    if n_usable < sp.min_total_records:
        raise DatasetError(f"only {n_usable} usable records, min_total_records is {sp.min_total_records} {tail}")
    try:
        parts = split_coded(n_usable, coded, sp.eval_size, sp.val_ratio, sp.random_seed, sp.min_train_records)
    except SplitError as exc:
        raise DatasetError(f"{exc} {tail}") from None
    files = _write(out_dir, s.spills, reader, offsets, coded, parts, wtype, options, embedder, tmp, workers)
    classes: dict[str, dict[str, int]] = {}
    for name, idx in (("eval", parts.eval), ("train", parts.train), ("val", parts.val)):
        if coded is None:
            if len(idx):
                classes.setdefault("all", {"eval": 0, "train": 0, "val": 0})[name] += len(idx)
            continue
        codes, names = coded
        for code, count in zip(*np.unique(codes[idx], return_counts=True), strict=True):
            classes.setdefault(names[int(code)], {"eval": 0, "train": 0, "val": 0})[name] += int(count)
    stats = {
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
        **files.pop("_icl_stats", {}),
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
) -> dict[str, Any]:
    files: dict[str, Any] = {}
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
        files["_icl_stats"] = {
            "icl": {
                "selection": options.icl.selection,
                "records": len(evals),
                "with_examples": with_examples,
                "mean_examples": round(total / len(evals), 2) if evals else 0.0,
                "window_tokens": selector.window,
            }
        }
    return files
