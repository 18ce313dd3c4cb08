"""The workload's token volume from its logged records, scaled to a 30-day month."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

DAY_S = 86400.0
MONTH_DAYS = 30.0
CHARS_PER_TOKEN = 4  # estimate when a record carries no usage block


@dataclass(frozen=True)
class TokenVolume:
    records: int
    input_tokens: int
    output_tokens: int
    window_days: float
    output_tokens_per_month: float
    input_tokens_per_month: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _estimate(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text) // CHARS_PER_TOKEN + 1


def _tokens(record: dict[str, Any]) -> tuple[int, int]:
    usage = (record.get("response") or {}).get("usage") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    messages = (record.get("request") or {}).get("messages") or []
    choices = (record.get("response") or {}).get("choices") or [{}]
    return _estimate(messages), _estimate((choices[0] or {}).get("message") or "")


def token_volume(records: Iterable[dict[str, Any]], min_window_days: float = 1.0) -> TokenVolume:
    """Tokens in the records (their ``usage``, else an estimate from text length) over the time they span,
    scaled to 30 days. A window shorter than ``min_window_days`` counts as that long (a burst of logs is not
    read as a month of traffic at that rate)."""
    n = tokens_in = tokens_out = 0
    first = last = None
    for rec in records:
        if "__rejected__" in rec or not isinstance(rec.get("request"), dict):
            continue
        i, o = _tokens(rec)
        n, tokens_in, tokens_out = n + 1, tokens_in + i, tokens_out + o
        ts = rec.get("timestamp")
        if isinstance(ts, int | float):
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    span = ((last - first) / DAY_S) if first is not None and last is not None else 0.0
    days = max(span, min_window_days)
    scale = MONTH_DAYS / days
    return TokenVolume(n, tokens_in, tokens_out, round(days, 4), tokens_out * scale, tokens_in * scale)
