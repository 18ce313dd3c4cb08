"""What the gateway served during a rollout step: its serving log and the log source's records.

The gateway hook leaves one line per routed request in ``<serving_log_dir>/<workload_id>.serving.jsonl``
(``ts``, ``served_model``, ``role``, ``ok``, ``latency_ms``, ``error``) and appends each answered request to
the log source with ``served_model``; a step reads the serving log from the moment it started.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError


class ServedLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ts: float
    workload_id: str
    served_model: str
    role: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class StepStats:
    requests: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def serving_log(directory: str, workload_id: str) -> Path:
    return Path(directory) / f"{workload_id}.serving.jsonl"


def _json_lines(path: Path) -> Iterator[dict[str, object]]:
    if not path.is_file():
        return
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # a line still being written
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value


def served_lines(directory: str, workload_id: str, since: float) -> list[ServedLine]:
    out = []
    for value in _json_lines(serving_log(directory, workload_id)):
        try:
            line = ServedLine.model_validate(value)
        except ValidationError:
            continue
        if line.ts >= since and line.workload_id == workload_id:
            out.append(line)
    return out


def stats_for(lines: list[ServedLine], model: str) -> StepStats:
    mine = [x for x in lines if x.served_model == model]
    latencies = sorted(x.latency_ms for x in mine if x.ok and x.latency_ms is not None)
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else None
    return StepStats(requests=len(mine), errors=sum(not x.ok for x in mine), p95_ms=p95)
