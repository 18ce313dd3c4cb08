"""The workload's token volume from its logged records, scaled to a 30-day month."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from flywheel.run.models import TokenVolume

DAY_S = 86400.0
MONTH_DAYS = 30.0
CHARS_PER_TOKEN = 4  # estimate when a record carries no usage block

__all__ = ["TokenVolume", "token_volume"]


def _estimate(value: object) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text) // CHARS_PER_TOKEN + 1


def _object(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _tokens(record: Mapping[str, object]) -> tuple[int, int]:
    response = _object(record.get("response"))
    usage = _object(response.get("usage"))
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    messages = _object(record.get("request")).get("messages") or []
    choices = response.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else {}
    return _estimate(messages), _estimate(_object(first).get("message") or "")


def token_volume(records: Iterable[Mapping[str, object]], min_window_days: float = 1.0) -> TokenVolume:
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
