"""``flywheel datasets --input LOGS.jsonl --workload-id W ... --out DIR``: offline dataset build (design §6)."""

from __future__ import annotations

import argparse


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
    options = BuildOptions(args.workload_id, args.client_id, args.workload_type, split, icl, args.context_length)
    try:
        result = build_datasets(Path(args.input), options, Path(args.out))
    except DatasetError as exc:
        print(f"error: {exc}")
        return 2
    s = result.stats
    print(
        json.dumps({k: s[k] for k in ("read", "invalid", "duplicates", "filtered", "used", "workload_type", "sizes")})
    )
    return 0
