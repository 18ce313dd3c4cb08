"""``flywheel check-config [PATH]``: print ``ok`` or one line per problem (exit 1)."""

from __future__ import annotations

import argparse

from flywheel.config import ConfigError, load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate config/flywheel.yaml (or PATH, or $FLYWHEEL_CONFIG)")
    p.add_argument("path", nargs="?", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line)
        return 1
    print("ok")
    print(f"  {len(cfg.workloads)} workload(s): {', '.join(w.workload_id for w in cfg.workloads)}")
    print(f"  {len(cfg.nims)} NIM(s): {', '.join(n.model_name for n in cfg.nims)}")
    return 0
