"""Dedup key and class labels of a normalised record."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_SPACE = re.compile(r"\s+")
_LABEL = re.compile(r"\[\[+\s*(.+?)\s*\]\]+", re.S)
NO_TOOL = "no_tool"


def _text(content: Any) -> str:
    if isinstance(content, list):  # multimodal parts: keep the text, hash the rest
        return " ".join(
            str(p.get("text", json.dumps(p, sort_keys=True))) if isinstance(p, dict) else str(p) for p in content
        )
    return "" if content is None else str(content)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def dedup_key(record: dict[str, Any]) -> str:
    """Normalised system prompt + user turns + offered tools (whitespace- and case-insensitive)."""
    messages = record["request"]["messages"]
    system = [_norm(_text(m.get("content"))) for m in messages if m["role"] == "system"]
    users = [_norm(_text(m.get("content"))) for m in messages if m["role"] == "user"]
    tools = sorted(
        (t.get("function") or t).get("name", "") for t in record["request"].get("tools") or [] if isinstance(t, dict)
    )
    blob = json.dumps([system, users, tools], separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def answer(record: dict[str, Any]) -> dict[str, Any]:
    return record["response"]["choices"][0]["message"]


def tool_label(record: dict[str, Any]) -> str:
    calls = answer(record).get("tool_calls") or []
    return calls[0]["function"]["name"] if calls else NO_TOOL


def classification_label(record: dict[str, Any]) -> str | None:
    m = _LABEL.search(_text(answer(record).get("content")))
    return _norm(m.group(1)) if m else None


def last_user_text(record: dict[str, Any]) -> str:
    for m in reversed(record["request"]["messages"]):
        if m["role"] == "user":
            return _text(m.get("content"))
    return ""
