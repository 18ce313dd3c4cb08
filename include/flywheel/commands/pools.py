"""``flywheel pools [--config PATH] [--write FILE]``: the Airflow pools the flywheel needs, sized from config.

The pool ``flywheel_gpu`` gets ``platform.gpu_budget`` slots (each NIM's GPU stage takes ``nims[].gpus``
of them, see docs/contracts.md#the-gpu-lease). Printed as JSON for ``airflow pools import``, or written to
FILE (``config/pools.json`` is the file for the default budget of 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TypedDict

GPU_POOL = "flywheel_gpu"


class PoolSpec(TypedDict):
    """One entry of ``airflow pools import``'s file."""

    slots: int
    description: str
    include_deferred: bool


def pools(budget: int) -> dict[str, PoolSpec]:
    """The pools for a GPU budget: deferred tasks do not hold a slot (a waiting claim frees it)."""
    if budget < 1:
        raise ValueError(f"platform.gpu_budget must be ≥ 1, got {budget}")
    return {
        GPU_POOL: {
            "slots": budget,
            "description": (
                f"GPU budget of the flywheel: {budget} GPU(s); each NIM's deploy_nim takes nims[].gpus slots "
                "and claims the GPU lease here"
            ),
            "include_deferred": False,
        }
    }


def render(budget: int) -> str:
    return json.dumps(pools(budget), indent=2) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    text = "print (or --write) the Airflow pools file, flywheel_gpu sized from platform.gpu_budget"
    p = sub.add_parser("pools", help=text, description=text)
    p.add_argument("--config", default=None, help="flywheel config (default: found as check-config finds it)")
    p.add_argument("--write", default=None, help="write the pools file here instead of printing it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flywheel.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"{exc.source}: {line}")
        return 1
    text = render(cfg.platform.gpu_budget)
    if args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}: pool {GPU_POOL} with {cfg.platform.gpu_budget} slot(s)")
    else:
        print(text, end="")
    return 0
