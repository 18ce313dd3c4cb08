"""Do two answers agree, by the workload's metric? Used by the shadow and canary steps.

``tool_calling``: the same functions called with the same arguments; ``classification``: the same label
(``[[label]]`` or the whole answer); ``generic``: token-overlap F1 of at least ``GENERIC_F1``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence

GENERIC_F1 = 0.5
_LABEL = re.compile(r"\[\[([^\]]+)\]\]")


def message_of(response: Mapping[str, object]) -> Mapping[str, object]:
    """The first choice's message of a chat completion (empty when there is none)."""
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        msg = choices[0].get("message")
        if isinstance(msg, dict):
            return msg
    return {}


def _calls(msg: Mapping[str, object]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    calls = msg.get("tool_calls")
    for c in calls if isinstance(calls, list) else []:
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict):
            continue
        args = fn.get("arguments")
        if isinstance(args, str):
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        out.append((str(fn.get("name")), args))
    return out


def label_of(msg: Mapping[str, object]) -> str | None:
    """The answer's class: the first tool called, else the ``[[label]]``, else None (free text)."""
    calls = _calls(msg)
    if calls:
        return calls[0][0]
    text = msg.get("content")
    if isinstance(text, str):
        m = _LABEL.search(text)
        if m:
            return m.group(1).strip()
    return None


def _tokens(text: object) -> list[str]:
    return re.findall(r"\w+", str(text or "").lower())


def agree(workload_type: str, a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    if workload_type == "tool_calling" or _calls(a) or _calls(b):
        return _calls(a) == _calls(b)
    if workload_type == "classification" or label_of(a) is not None:
        la, lb = label_of(a), label_of(b)
        if la is not None or lb is not None:
            return la == lb
        return str(a.get("content") or "").strip() == str(b.get("content") or "").strip()
    ta, tb = _tokens(a.get("content")), _tokens(b.get("content"))
    if not ta and not tb:
        return True
    common = sum((Counter(ta) & Counter(tb)).values())
    if not common:
        return False
    precision, recall = common / len(tb), common / len(ta)
    return 2 * precision * recall / (precision + recall) >= GENERIC_F1


def agreement(workload_type: str, pairs: Sequence[tuple[Mapping[str, object], Mapping[str, object]]]) -> float | None:
    """The share of pairs that agree; None for no pairs."""
    if not pairs:
        return None
    return sum(agree(workload_type, a, b) for a, b in pairs) / len(pairs)
