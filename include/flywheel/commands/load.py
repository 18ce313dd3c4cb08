"""``flywheel load --input LOGS.jsonl --es-url URL [--es-user USER] [--index NAME]``: idempotent bulk load.

Credentials never go on the command line nor into the URL: the password comes from the environment variable
named by ``--es-password-env`` (default ``ES_PASSWORD``), an API key from ``--es-api-key-env`` (default
``ES_API_KEY``). Every line printed is scrubbed of them.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="bulk-load a log file into Elasticsearch/OpenSearch (idempotent)")
    p.add_argument("--input", required=True, help=".jsonl or .jsonl.gz log file")
    p.add_argument(
        "--es-url", required=True, help="e.g. http://127.0.0.1:9200 or https://es.example.com:9200 (no credentials)"
    )
    p.add_argument("--es-user", default=None, help="Basic-auth user (e.g. elastic); password from --es-password-env")
    p.add_argument("--es-password-env", default="ES_PASSWORD", help="variable holding the password (ES_PASSWORD)")
    p.add_argument("--es-api-key-env", default="ES_API_KEY", help="variable holding an API key (ES_API_KEY)")
    p.add_argument("--index", default="flywheel")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flywheel.records.loader import load_file
    from flywheel.records.sources import es_client
    from flywheel.scrub import has_credentials, scrub

    password = os.environ.get(args.es_password_env) or ""
    api_key = os.environ.get(args.es_api_key_env) or None
    secrets = [password, api_key]
    path = Path(args.input)
    if not path.is_file():
        print(f"error: input file not found: {path}")
        return 2
    if args.es_user and not password:
        print(f"error: --es-user {args.es_user} needs the password in the environment variable {args.es_password_env}")
        return 2
    try:
        client = es_client(args.es_url, basic_auth=(args.es_user, password) if args.es_user else None, api_key=api_key)
        summary = load_file(client, path, args.index)
    except Exception as exc:  # bad URL, connection refused, auth, mapping conflicts: one scrubbed line, exit 2
        where = "the given URL" if has_credentials(args.es_url) else args.es_url
        line = f"error: cannot load into {where} index {args.index}: {type(exc).__name__}: {exc}"
        print(scrub(" ".join(line.split()), secrets, [args.es_user])[:500])
        return 2
    invalid = sum(summary["invalid"].values())
    detail = f" {summary['invalid']}" if invalid else ""
    failed = f", failed {summary['failed']}" if summary["failed"] else ""
    print(
        f"loaded {summary['loaded']}, skipped {summary['skipped']} (already present), invalid {invalid}{detail}{failed}"
    )
    return 1 if summary["failed"] else 0
