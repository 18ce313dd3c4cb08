"""``flywheel judge-down --nemo-url URL``: delete the shared local LLM judge deployment.

Runs never delete the local judge (several runs and workloads may be using it); this is the deliberate way.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge-down", help="delete the shared local LLM judge NIM deployment")
    p.add_argument(
        "--nemo-url", default=os.environ.get("FLYWHEEL_NEMO_URL"), help="NeMo base URL (default: $FLYWHEEL_NEMO_URL)"
    )
    p.add_argument("--config", default=None, help="flywheel config (default: found as check-config finds it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flywheel.config import ConfigError, load_config
    from flywheel.nemo import NemoClient, NemoEndpoints

    if not args.nemo_url:
        print("error: --nemo-url (or FLYWHEEL_NEMO_URL) is required")
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print("\n".join(exc.problems))
        return 1
    if cfg.judge.mode != "local":
        print(f"judge.mode is '{cfg.judge.mode}': there is no local judge deployment to remove")
        return 0
    name = cfg.judge.as_nim().deployment_name
    url = args.nemo_url.rstrip("/")
    endpoints = NemoEndpoints(
        base_url=url,
        nim_url=url,
        datastore_url=url,
        api_key=os.environ.get("NEMO_API_KEY"),
        namespace=cfg.platform.namespace,
    )
    with NemoClient(endpoints) as c:
        deleted = c.delete_deployment(name)
    where = f"{cfg.platform.namespace}/{name}"
    print(f"deleted {where}" if deleted else f"{where} was not deployed")
    return 0
