"""The ``flywheel`` command (docs/contracts.md#commands). Sub-commands live in :mod:`flywheel.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order = order in --help. A module that is not installed is skipped, so the CLI grows with the package.
COMMANDS = (
    "check_config",
    "pools",
    "datasets",
    "load",
    "sample_data",
    "emulator",
    "judge_down",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flywheel", description="Data flywheel on Apache Airflow")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"flywheel.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"flywheel.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
