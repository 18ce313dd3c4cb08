"""Dedup key (from :mod:`flywheel.records.keys`) and class labels of a normalised record."""

from __future__ import annotations

import re

from flywheel.records.keys import dedup_digest, dedup_key, normalised_text, text_of
from flywheel.records.shape import Message, Record

__all__ = ["NO_TOOL", "answer", "classification_label", "dedup_digest", "dedup_key", "last_user_text", "tool_label"]

_LABEL = re.compile(r"\[\[+\s*(.+?)\s*\]\]+", re.S)
NO_TOOL = "no_tool"
_text, _norm = text_of, normalised_text


def answer(record: Record) -> Message:
    return record["response"]["choices"][0]["message"]


def tool_label(record: Record) -> str:
    calls = answer(record).get("tool_calls") or []
    return calls[0]["function"]["name"] if calls else NO_TOOL


def classification_label(record: Record) -> str | None:
    m = _LABEL.search(_text(answer(record).get("content")))
    return _norm(m.group(1)) if m else None


def last_user_text(record: Record) -> str:
    for m in reversed(record["request"]["messages"]):
        if m["role"] == "user":
            return _text(m.get("content"))
    return ""
