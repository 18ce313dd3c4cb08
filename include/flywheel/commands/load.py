"""``flywheel load --input LOGS.jsonl --es-url URL [--index NAME]``: idempotent bulk load."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="bulk-load a log file into Elasticsearch/OpenSearch (idempotent)")
    p.add_argument("--input", required=True, help=".jsonl or .jsonl.gz log file")
    p.add_argument("--es-url", required=True, help="e.g. http://127.0.0.1:9200 or elasticsearch://user:pw@host:9200")
    p.add_argument("--index", default="flywheel")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flywheel.records.loader import load_file
    from flywheel.records.sources import es_client

    path = Path(args.input)
    if not path.is_file():
        print(f"error: input file not found: {path}")
        return 2
    try:
        summary = load_file(es_client(args.es_url), path, args.index)
    except Exception as exc:  # connection refused, auth, mapping conflicts: one line, exit 2
        print(f"error: cannot load into {args.es_url} index {args.index}: {type(exc).__name__}: {exc}"[:500])
        return 2
    invalid = sum(summary["invalid"].values())
    detail = f" {summary['invalid']}" if invalid else ""
    failed = f", failed {summary['failed']}" if summary["failed"] else ""
    print(
        f"loaded {summary['loaded']}, skipped {summary['skipped']} (already present), invalid {invalid}{detail}{failed}"
    )
    return 1 if summary["failed"] else 0
