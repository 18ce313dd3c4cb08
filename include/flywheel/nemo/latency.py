"""Latency and throughput of a served model: K chat completions at concurrency C, bounded in time.

Async (httpx) so C requests are in flight from one thread; the whole measurement stops at ``max_seconds``
(requests not yet started are not sent, those in flight are cancelled and counted as errors).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from flywheel.nemo.endpoints import bearer


@dataclass(frozen=True)
class LatencyResult:
    p50_ms: float | None
    p95_ms: float | None
    output_tokens_per_s: float
    requests: int
    errors: int
    elapsed_s: float

    def as_entry(self) -> dict[str, Any]:
        """The report's ``latency`` object (docs/contracts.md#results)."""
        out = asdict(self)
        out.pop("elapsed_s")
        return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in (0, 100])."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def prompts_from_jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` requests (messages + tools) of an eval-format JSONL file."""
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if len(out) >= limit:
                break
            rec = json.loads(line) if line.strip() else None
            request = (rec or {}).get("request") or {}
            if request.get("messages"):
                out.append({k: request[k] for k in ("messages", "tools", "tool_choice") if request.get(k)})
    return out


def _output_tokens(reply: dict[str, Any]) -> int:
    usage = reply.get("usage") or {}
    if isinstance(usage.get("completion_tokens"), int):
        return int(usage["completion_tokens"])
    message = ((reply.get("choices") or [{}])[0] or {}).get("message") or {}
    return len(json.dumps(message)) // 4 + 1  # estimate when the server reports no usage


async def measure(
    url: str,
    model: str,
    prompts: Iterable[dict[str, Any]],
    *,
    concurrency: int = 4,
    max_seconds: float = 120.0,
    max_tokens: int = 512,
    api_key: str | None = None,
    timeout_s: float = 30.0,
) -> LatencyResult:
    """POST each prompt to ``{url}/v1/chat/completions`` for ``model`` with ``concurrency`` in flight."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for p in prompts:
        queue.put_nowait(p)
    latencies: list[float] = []
    tokens = sent = 0
    headers = bearer(api_key)
    started = time.monotonic()
    deadline = started + max_seconds
    endpoint = f"{url.rstrip('/')}/v1/chat/completions"

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens, sent
        while time.monotonic() < deadline:
            try:
                prompt = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            sent += 1
            t0 = time.monotonic()
            try:
                r = await client.post(endpoint, json={"model": model, "max_tokens": max_tokens, **prompt})
                r.raise_for_status()
                reply = r.json()
            except (httpx.HTTPError, ValueError):
                continue
            latencies.append((time.monotonic() - t0) * 1000.0)
            tokens += _output_tokens(reply)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(concurrency)]
        _, pending = await asyncio.wait(workers, timeout=max(deadline - time.monotonic(), 0.0))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    errors = sent - len(latencies)  # failed, plus any cancelled in flight at the deadline
    elapsed = time.monotonic() - started
    return LatencyResult(
        p50_ms=_round(percentile(latencies, 50)),
        p95_ms=_round(percentile(latencies, 95)),
        output_tokens_per_s=round(tokens / elapsed, 3) if elapsed > 0 else 0.0,
        requests=sent,
        errors=errors,
        elapsed_s=round(elapsed, 3),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure_sync(url: str, model: str, prompts: Iterable[dict[str, Any]], **kw: Any) -> LatencyResult:
    return asyncio.run(measure(url, model, prompts, **kw))
