"""Logs -> eval / train / val (+ ICL) dataset files and stats.json.

Streams the input newest first, validates (counting every rejection by reason), de-duplicates (newest
wins), stops once ``limit`` unique valid records are collected (bounded memory), detects the workload
type, applies quality filters, splits with class-aware stratification, selects ICL examples, and writes
the files. ``read = used + invalid + duplicates + filtered`` always holds.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.datasets import formats, icl
from flywheel.datasets.keys import dedup_key
from flywheel.datasets.split import SplitError, split
from flywheel.datasets.types import detect, label_of, quality_problem
from flywheel.records.sources import FileSource
from flywheel.records.validation import Rejected, validate


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


@dataclass
class BuildResult:
    workload_type: str
    stats: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def _content_hash(record: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(record, sort_keys=True, ensure_ascii=False).encode(), digest_size=16).hexdigest()


def collect(input_path: Path, options: BuildOptions) -> tuple[list[tuple[dict[str, Any], str]], dict[str, Any]]:
    """Newest-first unique valid records (at most ``limit``) and the reading counts.

    The result does not depend on how a source orders records with equal timestamps (files keep line order,
    Elasticsearch sorts by id): duplicates with the same timestamp keep the smaller content hash, reading
    continues past ``limit`` until the timestamp changes, and the records are sorted by (timestamp desc, key).
    """
    try:
        source = FileSource(input_path)
    except FileNotFoundError as exc:
        raise DatasetError(str(exc)) from None
    invalid: Counter[str] = Counter()
    seen: dict[str, int] = {}  # dedup key -> position in kept
    kept: list[tuple[dict[str, Any], str]] = []
    read = duplicates = 0
    limit = options.split.limit
    for raw in source.iter_records(options.workload_id, options.client_id):
        rec = validate(raw)
        if isinstance(rec, Rejected):
            read += 1
            invalid[rec.reason] += 1
            continue
        if limit is not None and len(kept) >= limit and rec["timestamp"] != kept[-1][0]["timestamp"]:
            break  # sources are newest first: nothing older can displace what is kept
        read += 1
        key = dedup_key(rec)
        at = seen.get(key)
        if at is not None:
            duplicates += 1
            other = kept[at][0]
            if other["timestamp"] == rec["timestamp"] and _content_hash(rec) < _content_hash(other):
                kept[at] = (rec, key)
            continue
        seen[key] = len(kept)
        kept.append((rec, key))
    kept.sort(key=lambda rk: (-rk[0]["timestamp"], rk[1]))
    if limit is not None and len(kept) > limit:
        read -= len(kept) - limit  # records past the limit (same timestamp) count as not read
        kept = kept[:limit]
    return kept, {"read": read, "invalid": dict(sorted(invalid.items())), "duplicates": duplicates}


def build_datasets(
    input_path: Path, options: BuildOptions, out_dir: Path, embedder: icl.Embedder | None = None
) -> BuildResult:
    kept, counts = collect(Path(input_path), options)
    n_invalid = sum(counts["invalid"].values())
    if counts["read"] == 0:
        raise DatasetError(
            f"no records for workload '{options.workload_id}'"
            + (f" and client '{options.client_id}'" if options.client_id else "")
            + f" in {input_path}"
        )
    wtype = detect([r for r, _ in kept], options.workload_type)
    filtered: Counter[str] = Counter()
    usable: list[tuple[dict[str, Any], str]] = []
    for rec, key in kept:
        problem = quality_problem(rec, wtype)
        if problem:
            filtered[problem] += 1
        else:
            usable.append((rec, key))
    labels = [label_of(r, wtype) for r, _ in usable]
    sp = options.split
    if len(usable) < sp.min_total_records:
        raise DatasetError(
            f"only {len(usable)} usable records, min_total_records is {sp.min_total_records} "
            f"(read {counts['read']}: {n_invalid} invalid, {counts['duplicates']} duplicates, "
            f"{sum(filtered.values())} filtered)"
        )
    try:
        parts = split(labels, sp.eval_size, sp.val_ratio, sp.random_seed, sp.min_train_records)
    except SplitError as exc:
        raise DatasetError(
            f"{exc} (read {counts['read']}: {n_invalid} invalid, {counts['duplicates']} "
            f"duplicates, {sum(filtered.values())} filtered)"
        ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _write(out_dir, usable, labels, parts, wtype, options, embedder)
    classes: dict[str, dict[str, int]] = {}
    for name, idx in (("eval", parts.eval), ("train", parts.train), ("val", parts.val)):
        for i in idx:
            lab = labels[i] if labels[i] is not None else "all"
            classes.setdefault(lab, {"eval": 0, "train": 0, "val": 0})[name] += 1
    stats = {
        **counts,
        "filtered": sum(filtered.values()),
        "filtered_by_reason": dict(sorted(filtered.items())),
        "used": len(usable),
        "workload_type": wtype,
        "classes": dict(sorted(classes.items())),
        "sizes": {"eval": len(parts.eval), "train": len(parts.train), "val": len(parts.val)},
        "pooled_classes": parts.pooled,
        "stratified": parts.stratified,
        "seed": sp.random_seed,
        "workload_id": options.workload_id,
        "client_id": options.client_id,
        **files.pop("_icl_stats", {}),
    }
    (out_dir / "stats.json").write_text(formats.dumps(stats) + "\n")
    return BuildResult(workload_type=wtype, stats=stats, files={k: v for k, v in files.items()})


def _write(
    out_dir: Path,
    usable: list[tuple[dict[str, Any], str]],
    labels: list[str | None],
    parts: Any,
    wtype: str,
    options: BuildOptions,
    embedder: icl.Embedder | None,
) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for name, idx in (("eval", parts.eval), ("train", parts.train), ("val", parts.val)):
        path = out_dir / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in idx:
                rec = usable[i][0]
                line = formats.eval_line(rec) if name == "eval" else formats.train_line(rec, wtype)
                f.write(formats.dumps(line) + "\n")
        files[name] = path
    if options.icl.enabled and parts.train:
        train = [usable[i][0] for i in parts.train]
        selector = icl.IclSelector(
            train,
            [usable[i][1] for i in parts.train],
            [labels[i] for i in parts.train],
            options.icl,
            options.context_length,
            options.split.random_seed,
            embedder,
        )
        evals = [usable[i] for i in parts.eval]
        vectors = selector.query_vectors([r for r, _ in evals])
        with_examples, total = 0, 0
        path = out_dir / "icl.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for row, (rec, key) in enumerate(evals):
                examples = selector.select(rec, key, selector.candidates(vectors, row))
                messages = icl.inject(rec["request"]["messages"], examples) if examples else None
                with_examples += bool(examples)
                total += len(examples)
                f.write(formats.dumps(formats.eval_line(rec, messages)) + "\n")
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
