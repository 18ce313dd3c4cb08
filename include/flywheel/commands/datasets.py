"""``flywheel datasets --input LOGS.jsonl --workload-id W ... --out DIR``: offline dataset build
(docs/contracts.md#commands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="build eval/train/val (+ICL) datasets and stats.json from a log file")
    p.add_argument("--input", required=True)
    p.add_argument("--workload-id", required=True)
    p.add_argument("--client-id", default=None)
    p.add_argument("--workload-type", default="auto", choices=["auto", "generic", "tool_calling", "classification"])
    p.add_argument("--eval-size", type=int, default=None)
    p.add_argument("--val-ratio", type=float, default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--context-length", type=int, default=8192, help="target NIM context length (ICL budget)")
    p.add_argument("--no-icl", action="store_true")
    p.add_argument(
        "--pii",
        choices=["redact", "drop_record", "off"],
        default=None,
        help="PII handling (default: pii of this workload in the config, else redact)",
    )
    p.add_argument("--out", required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from flywheel.config import IclConfig, SplitConfig
    from flywheel.datasets import BuildOptions, DatasetError, build_datasets

    overrides = {
        k: v
        for k, v in {
            "eval_size": args.eval_size,
            "val_ratio": args.val_ratio,
            "limit": args.limit,
            "random_seed": args.seed,
        }.items()
        if v is not None
    }
    try:
        split = SplitConfig(**{"min_total_records": 1, **overrides})
        icl = IclConfig(enabled=not args.no_icl)
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}")
        return 2
    pii = _pii_config(args.workload_id)
    if args.pii is not None:
        pii = pii.model_copy(update={"mode": args.pii})
    options = BuildOptions(
        args.workload_id, args.client_id, args.workload_type, split, icl, args.context_length, pii=pii
    )
    try:
        result = build_datasets(Path(args.input), options, Path(args.out))
    except DatasetError as exc:
        print(f"error: {exc}")
        return 2
    s = result.stats
    keys = ("read", "invalid", "duplicates", "filtered", "used", "workload_type", "sizes", "pii", "pii_records")
    print(json.dumps({k: s[k] for k in keys if k in s}))
    return 0


def _pii_config(workload_id: str) -> Any:
    """The workload's ``pii`` settings when the config file has it, else the defaults (redact)."""
    from flywheel.config import ConfigError, PiiConfig, default_config_path, load_config

    path = default_config_path()
    if not path.is_file():
        return PiiConfig()
    try:
        cfg = load_config(path)
        return cfg.pii_for(cfg.workload(workload_id))
    except KeyError:
        return cfg.defaults.pii
    except ConfigError:
        return PiiConfig()
