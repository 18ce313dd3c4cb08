"""``flywheel sample-data --workload W --records N --seed S --out FILE``: deterministic sample logs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample-data", help="write deterministic sample logs (JSONL) for a workload type")
    p.add_argument(
        "--workload",
        required=True,
        choices=["tool_calling", "classification", "generic", "support"],
        help="the kind of workload the logs come from (support: a judge-scored generic workload)",
    )
    p.add_argument("--records", type=int, default=1000, help="lines to write (default 1000)")
    p.add_argument("--seed", type=int, default=42, help="same seed, same file (default 42)")
    p.add_argument("--out", required=True, help="the JSONL file to write")
    p.add_argument("--workload-id", default=None, help="workload_id of the records (default: one per workload kind)")
    p.add_argument("--client-id", default=None, help="client_id of the records (default: one per workload kind)")
    p.add_argument("--bad-fraction", type=float, default=0.02, help="share of deliberately invalid lines")
    p.add_argument("--duplicate-fraction", type=float, default=0.02, help="share of exact and near duplicates")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flywheel.sampledata import write

    try:
        summary = write(
            args.out,
            args.workload,
            args.records,
            args.seed,
            workload_id=args.workload_id,
            client_id=args.client_id,
            bad_fraction=args.bad_fraction,
            duplicate_fraction=args.duplicate_fraction,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 2
    invalid = ", ".join(f"{k}={n}" for k, n in summary["invalid"].items()) or "none"
    print(
        f"wrote {summary['lines']} lines to {summary['path']} (workload_id {summary['workload_id']}): "
        f"{summary['good']} good, {summary['duplicates']} duplicates, {summary['near_duplicates']} near duplicates, "
        f"invalid: {invalid}"
    )
    return 0
