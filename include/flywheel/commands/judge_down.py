"""``flywheel judge-down --nemo-url URL``: delete the shared local LLM judge deployment.

Runs never delete the local judge (several runs and workloads may be using it); this is the deliberate way.
The backend is the config's ``platform.kind``, opened through :mod:`flywheel.platforms.registry`.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge-down", help="delete the shared local LLM judge NIM deployment")
    p.add_argument(
        "--nemo-url",
        default=os.environ.get("FLYWHEEL_NEMO_URL"),
        help="platform base URL: NMP or Helix, per platform.kind (default: $FLYWHEEL_NEMO_URL)",
    )
    p.add_argument(
        "--gpu-url",
        default=os.environ.get("FLYWHEEL_GPU_URL"),
        help="Helix only: where deployments are served when not by Helix itself (default: $FLYWHEEL_GPU_URL)",
    )
    p.add_argument("--config", default=None, help="flywheel config (default: found as check-config finds it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flywheel.config import ConfigError, load_config
    from flywheel.platforms.registry import Access, open_platform

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
    access = Access(
        url=args.nemo_url.rstrip("/"),
        namespace=cfg.platform.namespace,
        api_key=os.environ.get("NEMO_API_KEY"),
        extra={"gpu_url": args.gpu_url} if args.gpu_url else {},
        timeout_s=cfg.platform.request_timeout_s,
        max_retries=cfg.platform.max_retries,
    )
    with open_platform(cfg.platform.kind, access) as c:
        deleted = c.delete_deployment(name)
        where = f"{c.ns}/{name}"
    print(f"deleted {where}" if deleted else f"{where} was not deployed")
    return 0
