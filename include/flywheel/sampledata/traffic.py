"""Live traffic for the demo and the tests: the sample application's requests sent through the gateway.

Each request of a JSONL file of log records (``flywheel sample-data`` output, or any log file in our schema)
is sent, in order and then round again, to ``<gateway>/v1/chat/completions`` as model ``flywheel/<workload>``,
so the gateway routes it (incumbent or candidate) and its hook logs it. ``python -m
flywheel.sampledata.traffic --gateway URL --workload ID --records FILE [--rate 5] [--count N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from flywheel.serving.routing import alias


def requests_of(path: Path, workload_id: str | None = None) -> list[dict[str, object]]:
    """The chat requests of the file's records (of ``workload_id`` when given), model field dropped."""
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        req = rec.get("request") if isinstance(rec, dict) else None
        if not isinstance(req, dict) or (workload_id and rec.get("workload_id") not in (workload_id, None)):
            continue
        out.append({k: v for k, v in req.items() if k in ("messages", "tools", "tool_choice")})
    return out


def cycle(requests: list[dict[str, object]]) -> Iterator[dict[str, object]]:
    while requests:
        yield from requests


def send(
    gateway_url: str,
    workload_id: str,
    requests: list[dict[str, object]],
    count: int | None = None,
    rate: float = 5.0,
    api_key: str | None = None,
) -> dict[str, int]:
    """Send ``count`` requests (forever when None) at about ``rate`` per second; return status counts."""
    if not requests:
        raise ValueError("no requests to send: the records file has none for this workload")
    seen: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    url = f"{gateway_url.rstrip('/')}/v1/chat/completions"
    with httpx.Client(timeout=60, headers=headers) as client:
        for sent, body in enumerate(cycle(requests)):
            if count is not None and sent >= count:
                break
            try:
                status = str(client.post(url, json={**body, "model": alias(workload_id)}).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            seen[status] = seen.get(status, 0) + 1
            if rate > 0:
                time.sleep(1.0 / rate)
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flywheel.sampledata.traffic", description=__doc__)
    ap.add_argument("--gateway", required=True, help="the gateway's base URL")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--records", required=True, type=Path, help="JSONL log records whose requests are replayed")
    ap.add_argument("--rate", type=float, default=5.0, help="requests per second (0: as fast as answered)")
    ap.add_argument("--count", type=int, default=None, help="how many (default: until stopped)")
    args = ap.parse_args(argv)
    seen = send(args.gateway, args.workload, requests_of(args.records, args.workload), args.count, args.rate)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
