"""``flywheel datasets --input LOGS.jsonl --workload-id W ... --out DIR``: offline dataset build
(docs/contracts.md#commands).

Prints the summary as one JSON line, or ``error: <why>`` in one line (exit 2); ``DIR/stats.json`` is written
either way. Progress goes to stderr: a bar on a terminal, a line every 10 s otherwise.
"""

from __future__ import annotations

import argparse
from typing import Any

from flywheel.records.lines import DEFAULT_MAX_RECORD_BYTES

CONTEXT_LENGTH_MIN = 256  # as a NIM's context_length in the config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "datasets",
        help="build eval/train/val (+ICL) datasets and stats.json from a log file",
        description="Build eval/train/val (+ICL) datasets and stats.json from a log file (JSONL, .jsonl.gz or "
        "Parquet). PII handling and the record size limit not given here are the workload's in the config "
        "(see check-config); split settings not given here are the built-in defaults (eval 100, val 0.1, "
        "limit 1000, seed 42).",
    )
    p.add_argument("--input", required=True, metavar="LOGS", help="the log file: .jsonl, .jsonl.gz or .parquet")
    p.add_argument("--workload-id", required=True, help="build from the records of this workload only")
    p.add_argument("--client-id", default=None, help="and of this client only (default: any client)")
    p.add_argument(
        "--workload-type",
        default="auto",
        choices=["auto", "generic", "tool_calling", "classification"],
        help="auto detects it from the records (default: auto)",
    )
    p.add_argument("--eval-size", type=int, default=None, metavar="N", help="records held out for evaluation")
    p.add_argument("--val-ratio", type=float, default=None, metavar="R", help="share of the rest for validation")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use the newest N usable records")
    p.add_argument("--seed", type=int, default=None, help="random seed of the split (same seed, same datasets)")
    p.add_argument("--context-length", type=int, default=8192, help="target NIM context length (ICL budget)")
    p.add_argument("--no-icl", action="store_true", help="do not write icl.jsonl (an earlier one is removed)")
    p.add_argument(
        "--pii",
        choices=["redact", "drop_record", "off"],
        default=None,
        help="PII handling (default: pii of this workload in the config, else redact)",
    )
    p.add_argument(
        "--max-record-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help=f"skip (and count as invalid 'record_too_large') a log line longer than this (default: "
        f"split.max_record_bytes of the workload in the config, else {DEFAULT_MAX_RECORD_BYTES})",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created; its outputs replaced)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    import sys
    from pathlib import Path

    from pydantic import ValidationError

    from flywheel.config import IclConfig, SplitConfig, format_path
    from flywheel.datasets import BuildOptions, DatasetError, build_datasets
    from flywheel.datasets.progress import Progress

    overrides = {
        k: v
        for k, v in {
            "eval_size": args.eval_size,
            "val_ratio": args.val_ratio,
            "limit": args.limit,
            "random_seed": args.seed,
            "max_record_bytes": args.max_record_bytes,
        }.items()
        if v is not None
    }
    workload_cfg = _workload_config(args.workload_id)
    split_base = {"max_record_bytes": workload_cfg[1]} if workload_cfg[1] else {}
    try:
        split = SplitConfig(**{"min_total_records": 1, **split_base, **overrides})
        icl = IclConfig(enabled=not args.no_icl)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"random_seed": "seed"}.get(str(first["loc"][0]), str(first["loc"][0]))
        print(f"error: --{option.replace('_', '-')}: {first['msg']} ({format_path(first['loc'])})")
        return 2
    if args.context_length < CONTEXT_LENGTH_MIN:
        print(f"error: --context-length: must be ≥ {CONTEXT_LENGTH_MIN} (tokens)")
        return 2
    pii = workload_cfg[0]
    if args.pii is not None:
        pii = pii.model_copy(update={"mode": args.pii})
    options = BuildOptions(
        args.workload_id, args.client_id, args.workload_type, split, icl, args.context_length, pii=pii
    )
    if not sys.stderr.isatty():  # progress lines (the bar draws itself on a terminal)
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
        logging.getLogger("flywheel.datasets").setLevel(logging.INFO)
    progress = Progress(_size(Path(args.input)), f"scan of {Path(args.input).name}")
    try:
        result = build_datasets(Path(args.input), options, Path(args.out), progress=progress)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 2
    finally:
        progress.close()
    s = result.stats
    keys = ("read", "invalid", "duplicates", "filtered", "used", "workload_type", "sizes", "pii", "pii_records")
    print(json.dumps({k: s[k] for k in keys if k in s}))
    return 0


def _size(path: Any) -> int | None:
    try:
        return None if path.suffix == ".parquet" else int(path.stat().st_size)
    except OSError:
        return None


def _workload_config(workload_id: str) -> tuple[Any, int | None]:
    """(pii settings, max_record_bytes) of the workload when the config file has it, else the defaults."""
    from flywheel.config import ConfigError, PiiConfig, default_config_path, load_config

    path = default_config_path()
    if not path.is_file():
        return PiiConfig(), None
    try:
        cfg = load_config(path)
        w = cfg.workload(workload_id)
    except KeyError:
        return cfg.defaults.pii, cfg.defaults.split.max_record_bytes
    except ConfigError:
        return PiiConfig(), None
    return cfg.pii_for(w), cfg.split_for(w).max_record_bytes
