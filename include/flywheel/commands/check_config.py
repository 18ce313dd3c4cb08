"""``flywheel check-config [PATH]``: print ``ok: FILE`` or one line per problem (exit 1).

Everything the DAGs would refuse is refused here: the file is loaded by the same loader, and the defaults
each workload gives its trigger Params are validated as Airflow validates them.
"""

from __future__ import annotations

import argparse

from flywheel.config import CONFIG_ENV, ConfigError, default_config_path, load_config

HELP = (
    f"validate the flywheel config: PATH, else ${CONFIG_ENV}, else ./config/flywheel.yaml in the current "
    "directory, else config/flywheel.yaml of the project the package is installed from"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help=HELP, description=HELP)
    p.add_argument("path", nargs="?", default=None, help="the config file to check (default: see above)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = args.path if args.path is not None else default_config_path()
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"{exc.source}: {line}")
        return 1
    print(f"ok: {path}")
    print(f"  {len(cfg.workloads)} workload(s): {', '.join(w.workload_id for w in cfg.workloads)}")
    print(f"  {len(cfg.nims)} NIM(s): {', '.join(n.model_name for n in cfg.nims)}")
    print(f"  GPU budget: {cfg.platform.gpu_budget} (pool flywheel_gpu: `flywheel pools`)")
    return 0
