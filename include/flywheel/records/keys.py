"""The dedup key of a normalised record: what makes two logged calls "the same request".

It lives with the records (not the datasets) because the snapshot export counts unique records too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flywheel.records import jsonio


def text_of(content: Any) -> str:
    if isinstance(content, list):  # multimodal parts: keep the text, hash the rest
        return " ".join(
            str(p.get("text", json.dumps(p, sort_keys=True))) if isinstance(p, dict) else str(p) for p in content
        )
    return "" if content is None else str(content)


_NORMALISED: dict[str, str] = {}  # system prompts and templated turns repeat across records


def normalised_text(text: str) -> str:
    out = _NORMALISED.get(text)
    if out is None:
        out = " ".join(text.split()).casefold()  # = re.sub(r"\s+", " ", text).strip(): same whitespace set
        if len(_NORMALISED) >= 4096:
            _NORMALISED.clear()
        _NORMALISED[text] = out
    return out


def dedup_digest(record: dict[str, Any]) -> bytes:
    """16 bytes: normalised system prompt + user turns + offered tools (whitespace- and case-insensitive)."""
    system: list[str] = []
    users: list[str] = []
    for m in record["request"]["messages"]:
        role = m["role"]
        if role == "system":
            system.append(normalised_text(text_of(m.get("content"))))
        elif role == "user":
            users.append(normalised_text(text_of(m.get("content"))))
    tools = sorted(
        (t.get("function") or t).get("name", "") for t in record["request"].get("tools") or [] if isinstance(t, dict)
    )
    return hashlib.blake2b(jsonio.dumps_compact([system, users, tools]), digest_size=16).digest()


def dedup_key(record: dict[str, Any]) -> str:
    return dedup_digest(record).hex()
