"""``flywheel emulator``: serve the NeMo platform emulator on one port (NeMo base URL, NIM proxy, Data Store)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("emulator", help="run the local NeMo Microservices platform emulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8100, help="port to listen on (default 8100)")
    p.add_argument(
        "--gpus",
        type=int,
        default=None,
        help="GPU capacity (default: $EMULATOR_GPUS, else the config file's value, else 2)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="YAML/JSON settings file (default: $FLYWHEEL_EMULATOR_CONFIG): durations, faults, ...",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flywheel.emulator.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config, gpus=args.gpus)
    except SettingsError as exc:
        print(f"flywheel emulator: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from flywheel.emulator.app import create_app

    print(f"NeMo emulator on http://{args.host}:{args.port} ({settings.gpus} GPU(s))", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0
