"""Typed, stable placeholders in every text a dataset carries: message contents (system, user, assistant,
tool results), multimodal text parts, and string (or long integer) values inside tool-call arguments, which
stay JSON objects. Within one record the same value always gets the same placeholder (``<EMAIL_1>``), numbered
in order of first appearance, so the model still learns to carry a value from the question to the call."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flywheel.privacy.detectors import BUILTIN_KINDS, Detector, detectors, maybe_builtin

_CACHE_MAX = 8192


class Redactor:
    def __init__(self, kinds: list[str] | tuple[str, ...], region: str = "US") -> None:
        self._detectors: list[tuple[str, Detector]] = detectors(kinds, region)
        self._prefilter = all(kind in BUILTIN_KINDS for kind, _ in self._detectors)
        self._cache: dict[str, list[tuple[int, int, str, str]]] = {}  # system prompts and templates repeat

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Non-overlapping (start, end, kind, canonical value), in text order."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        spans: list[tuple[int, int, str, str]] = []
        taken: list[tuple[int, int]] = []
        detecting = self._detectors if not self._prefilter or maybe_builtin(text) else []
        for kind, detect in detecting:  # earlier kinds win overlaps
            for s in detect(text):
                if all(s.end <= a or s.start >= b for a, b in taken):
                    spans.append((s.start, s.end, kind, s.canonical))
                    taken.append((s.start, s.end))
        spans.sort()
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[text] = spans
        return spans

    def redact(self, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """A redacted copy of a normalised record (the record itself when it has no PII) and counts by kind."""
        job = _Job(self)
        request = record["request"]
        messages = [job.message(m) for m in request["messages"]]
        choice = record["response"]["choices"][0]
        answer = job.message(choice["message"])
        if not job.counts:
            return record, {}
        out = dict(record)
        out["request"] = {**request, "messages": messages}
        out["response"] = {**record["response"], "choices": [{**choice, "message": answer}]}
        return out, dict(job.counts)


class _Job:
    """One record's numbering and counts."""

    def __init__(self, redactor: Redactor) -> None:
        self.find = redactor.find
        self.numbers: dict[tuple[str, str], str] = {}
        self.per_kind: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def placeholder(self, kind: str, canonical: str) -> str:
        key = (kind, canonical)
        if key not in self.numbers:
            self.per_kind[kind] += 1
            self.numbers[key] = f"<{kind.upper()}_{self.per_kind[kind]}>"
        self.counts[kind] += 1
        return self.numbers[key]

    def text(self, text: str) -> str:
        spans = self.find(text)
        if not spans:
            return text
        parts, at = [], 0
        for start, end, kind, canonical in spans:
            parts += [text[at:start], self.placeholder(kind, canonical)]
            at = end
        parts.append(text[at:])
        return "".join(parts)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
            digits = str(value)  # a card or phone number logged as a JSON number
            spans = self.find(digits)
            if len(spans) == 1 and spans[0][:2] == (0, len(digits)):
                return self.placeholder(spans[0][2], spans[0][3])
        return value

    def has_pii(self, value: Any) -> bool:
        if isinstance(value, str):
            return bool(self.find(value))
        if isinstance(value, dict):
            return any(self.has_pii(v) for v in value.values())
        if isinstance(value, list):
            return any(self.has_pii(v) for v in value)
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6

    def message(self, m: dict[str, Any]) -> dict[str, Any]:
        """The message with its texts redacted; the same object when it has nothing to redact."""
        content = m.get("content")
        out = m
        if isinstance(content, str):
            redacted = self.text(content)
            if redacted is not content:
                out = {**m, "content": redacted}
        elif isinstance(content, list) and self.has_pii(content):
            parts = [
                {**p, "text": self.text(p["text"])} if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                for p in content
            ]
            out = {**m, "content": parts}
        calls = m.get("tool_calls")
        if calls and any(self.has_pii(c["function"]["arguments"]) for c in calls):
            out = {
                **out,
                "tool_calls": [
                    {**c, "function": {**c["function"], "arguments": self.value(c["function"]["arguments"])}}
                    for c in calls
                ],
            }
        return out
