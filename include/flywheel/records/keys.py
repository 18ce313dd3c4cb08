"""The dedup key of a normalised record: what makes two logged calls "the same request".

It lives with the records (not the datasets) because the snapshot export counts unique records too.
"""

from __future__ import annotations

import hashlib
import json

from flywheel.records import jsonio
from flywheel.records.shape import Record


def text_of(content: object) -> str:
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


def dedup_digest(record: Record) -> bytes:
    """16 bytes: normalised system prompt + user turns + offered tools (whitespace- and case-insensitive)."""
    system: list[str] = []
    users: list[str] = []
    for m in record["request"]["messages"]:
        role = m["role"]
        if role == "system":
            system.append(normalised_text(text_of(m.get("content"))))
        elif role == "user":
            users.append(normalised_text(text_of(m.get("content"))))
    names: list[str] = []
    for t in record["request"].get("tools") or []:
        if isinstance(t, dict):
            fn = t.get("function") or t
            name = fn.get("name", "") if isinstance(fn, dict) else ""
            names.append(name if isinstance(name, str) else str(name))
    tools = sorted(names)
    return hashlib.blake2b(jsonio.dumps_compact([system, users, tools]), digest_size=16).digest()


def dedup_key(record: Record) -> str:
    return dedup_digest(record).hex()
