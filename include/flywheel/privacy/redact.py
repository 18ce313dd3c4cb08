"""Typed, stable placeholders in every string of a record except a short allowlist of structural fields.

Visited: every message of every role (content strings, multimodal text parts, ``name`` of a non-tool message,
tool-call ``arguments`` objects key by key), every other ``request`` field (``user``, ``metadata``, ...),
every other ``response`` field, and extra top-level fields. Not visited (:data:`STRUCTURAL`): the record's
``timestamp``/``workload_id``/``client_id``; ``request.model``, ``request.tools`` (the tool schemas),
``tool_choice``, ``response_format``; ``response.id``/``model``/``object``/``created``/``system_fingerprint``/
``usage``; each message's ``role``/``tool_call_id``; each call's ``id``/``type``/``function.name``; each
choice's ``index``/``finish_reason``; a tool message's ``name``.

A value under a sensitive key (:mod:`flywheel.privacy.keys`) is replaced whole whatever its form; any other
string goes through the text detectors. Within one record the same value always gets the same placeholder
(``<EMAIL_1>``), numbered in order of first appearance, so the model still learns to carry a value from the
question to the call. Counts are kept per kind and per place (``request.messages[user].content``,
``request.user``, ``response.choices[].message.tool_calls[].function.arguments.phone``, ...)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from flywheel.privacy.detectors import BUILTIN_KINDS, Scanner, detectors
from flywheel.privacy.keys import key_kind

_CACHE_MAX = 16384
R = TypeVar("R", bound=Mapping[str, object])  # a normalised Record, or any logged JSON object
TOP_LEVEL_KEPT = frozenset(("timestamp", "workload_id", "client_id", "request", "response"))
STRUCTURAL = {
    "request": frozenset(
        ("model", "tools", "functions", "tool_choice", "function_call", "response_format", "parallel_tool_calls")
    ),
    "response": frozenset(("id", "model", "object", "created", "system_fingerprint", "usage", "service_tier")),
    "message": frozenset(("role", "tool_call_id")),
    "call": frozenset(("id", "type")),
    "choice": frozenset(("index", "finish_reason")),
    "part": frozenset(("type",)),
}
_MIN_ECHO_CHARS = 4  # shorter keyed values ("1", "yes") are too common to replace elsewhere
_NO_KEYED_NUMBERS = frozenset(("secret", "user", "person", "address"))  # "pin": 4 digits or more only


class Redactor:
    def __init__(self, kinds: list[str] | tuple[str, ...], region: str = "US") -> None:
        detectors(kinds, region)  # raises for a kind without a detector
        self.kinds = frozenset(kinds)
        self._scanner = Scanner(self.kinds, region)
        self._cache: dict[str, list[tuple[int, int, str, str]]] = {}  # system prompts and templates repeat

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Non-overlapping (start, end, kind, canonical value), in text order."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        spans: list[tuple[int, int, str, str]] = []
        if len(text) >= 6 and not (len(text) < 7 and text.isdigit()):  # shorter: nothing a detector takes
            taken: list[tuple[int, int]] = []
            for kind, s in self._scanner.scan(text):  # earlier candidates win overlaps
                if s.end > s.start and all(s.end <= a or s.start >= b for a, b in taken):
                    spans.append((s.start, s.end, kind, s.canonical))
                    taken.append((s.start, s.end))
            spans.sort()
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[text] = spans
        return spans

    def redact(self, record: R) -> tuple[R, dict[str, int]]:
        """A redacted copy of a normalised record (the record itself when it has no PII) and counts by kind."""
        out, counts, _ = self.redact_record(record)
        return out, counts

    def redact_record(self, record: R) -> tuple[R, dict[str, int], dict[str, int]]:
        """As :meth:`redact`, plus counts by ``"<place> <kind>"``."""
        if not self._hit_record(record):  # most records: one walk without copies or place names
            return record, {}, {}
        job = _Job(self)
        out: dict[str, object] | None = None
        for key, value in record.items():
            if key == "request" and isinstance(value, dict):
                new: object = job.request(value)
            elif key == "response" and isinstance(value, dict):
                new = job.response(value)
            elif key in TOP_LEVEL_KEPT:
                continue
            else:
                new = job.value(value, key, key_kind(key))
            if new is not value:
                if out is None:
                    out = dict(record)
                out[key] = new
        if not job.counts:
            return record, {}, {}
        redacted: Mapping[str, object] = out if out is not None else record
        if job.keyed:
            redacted = {k: v if k in _ECHO_SKIPPED else job.echoes(v, k) for k, v in redacted.items()}
        return cast(R, redacted), dict(job.counts), dict(job.places)

    # ------------------------------------------------------------------ fast check: anything to redact?
    def _hit_record(self, record: Mapping[str, object]) -> bool:
        for key, value in record.items():
            if key == "request":
                if isinstance(value, dict) and self._hit_fields(value, _REQUEST_KEPT, True):
                    return True
            elif key == "response":
                if isinstance(value, dict) and self._hit_response(value):
                    return True
            elif key not in TOP_LEVEL_KEPT and self._hit(value, key_kind(key)):
                return True
        return False

    def _hit_fields(self, obj: Mapping[str, object], kept: frozenset[str], request: bool = False) -> bool:
        for k, v in obj.items():
            if k in kept or v is None:
                continue
            if request and k == "messages" and isinstance(v, list):
                for m in v:
                    if self._hit_message(m):
                        return True
            elif self._hit(v, key_kind(k) if isinstance(k, str) else None):
                return True
        return False

    def _hit_response(self, response: Mapping[str, object]) -> bool:
        for k, v in response.items():
            if k in _RESPONSE_KEPT or v is None:
                continue
            if k == "choices" and isinstance(v, list):
                for c in v:
                    if not isinstance(c, dict):
                        if self._hit(c, None):
                            return True
                        continue
                    for ck, cv in c.items():
                        if ck in _CHOICE_KEPT or cv is None:
                            continue
                        if self._hit_message(cv) if ck == "message" else self._hit(cv, key_kind(ck)):
                            return True
            elif self._hit(v, key_kind(k)):
                return True
        return False

    def _hit_message(self, m: object) -> bool:
        if not isinstance(m, dict):
            return self._hit(m, None)
        find = self.find
        for k, v in m.items():
            if v is None or k in _MESSAGE_KEPT:
                continue
            if k == "content":
                if isinstance(v, str):
                    if find(v):
                        return True
                elif self._hit(v, None):
                    return True
            elif k == "tool_calls" and isinstance(v, list):
                for c in v:
                    fn = c.get("function") if isinstance(c, dict) else None
                    if isinstance(fn, dict) and len(c) <= 3 and len(fn) == 2:
                        args = fn.get("arguments")
                        if self._hit(args, None) if not isinstance(args, str) else self._hit_arguments(args):
                            return True
                    elif self._hit(c, None):
                        return True
            elif k == "name":
                if m.get("role") not in ("tool", "function") and self._hit(v, "person"):
                    return True
            elif self._hit(v, key_kind(k)):
                return True
        return False

    def _hit_arguments(self, args: str) -> bool:
        return bool(self.find(args)) or ('"' in args and ":" in args)  # JSON text: the slow path parses it

    def _hit(self, value: object, sensitive: str | None) -> bool:
        if isinstance(value, str):
            if sensitive is not None and sensitive in self.kinds and value.strip():
                return True
            return bool(self.find(value))
        if isinstance(value, dict):
            for k, v in value.items():
                kind = key_kind(k) if isinstance(k, str) else None
                if self._hit(v, kind or sensitive):
                    return True
            return False
        if isinstance(value, list):
            return any(self._hit(v, sensitive) for v in value)
        if isinstance(value, int) and not isinstance(value, bool):
            if sensitive is not None and sensitive in self.kinds:
                return True
            return abs(value) >= 10**6 and bool(self.find(str(value)))
        return False


class _Job:
    """One record's numbering and counts."""

    def __init__(self, redactor: Redactor) -> None:
        self.find = redactor.find
        self.kinds = redactor.kinds
        self.numbers: dict[tuple[str, str], str] = {}
        self.per_kind: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.places: Counter[str] = Counter()
        # values redacted because of their key (no detector knows them): replaced wherever else they stand
        self.keyed: dict[str, tuple[str, str]] = {}
        self._echo: re.Pattern[str] | None = None

    def placeholder(self, kind: str, canonical: str, place: str) -> str:
        key = (kind, canonical)
        if key not in self.numbers:
            self.per_kind[kind] += 1
            self.numbers[key] = f"<{kind.upper()}_{self.per_kind[kind]}>"
        self.counts[kind] += 1
        self.places[f"{place} {kind}"] += 1
        return self.numbers[key]

    def text(self, text: str, place: str) -> str:
        spans = self.find(text)
        if not spans:
            return text
        parts, at = [], 0
        for start, end, kind, canonical in spans:
            parts += [text[at:start], self.placeholder(kind, canonical, place)]
            at = end
        parts.append(text[at:])
        return "".join(parts)

    def whole(self, value: object, kind: str, place: str) -> object:
        """A value under a sensitive key: the detectors' placeholders when they cover it, else one of ``kind``."""
        if isinstance(value, str):
            stripped = value.strip()
            if not stripped or (stripped.startswith("<") and stripped.endswith(">") and " " not in stripped):
                return value
            spans = self.find(value)
            if spans and sum(e - s for s, e, _, _ in spans) >= len(stripped) - 2:
                return self.text(value, place)
            self._remember(stripped, kind, stripped.lower())
            return self.placeholder(kind, stripped.lower(), place)
        if isinstance(value, int) and not isinstance(value, bool):
            if kind in _NO_KEYED_NUMBERS and abs(value) < 1000:
                return value  # "token": 5 is a count, not a credential
            self._remember(str(value), kind, str(value))
            return self.placeholder(kind, str(value), place)
        return self.value(value, place, kind)

    def _remember(self, raw: str, kind: str, canonical: str) -> None:
        if len(raw) >= _MIN_ECHO_CHARS:
            self.keyed.setdefault(raw, (kind, canonical))

    def echoes(self, value: object, place: str) -> object:
        """``value`` with every value redacted by its key replaced wherever else it stands: a user id in the
        tool call's ``user_id`` and in the system prompt gets one placeholder, so the datasets stay consistent
        (the prompt and the expected answer agree) and the value does not survive in the text."""
        if not self.keyed:
            return value

        def replace(text: str, at: str) -> str:
            if not any(raw in text for raw in self.keyed):  # the common case: a plain substring test
                return text
            found = self._echo_pattern()
            return found.sub(lambda m: swap(m, at), text) if found.search(text) else text

        def swap(match: re.Match[str], at: str) -> str:
            kind, canonical = self.keyed[match.group(0)]
            return self.placeholder(kind, canonical, at)

        def walk(v: object, at: str) -> object:
            if isinstance(v, str):
                return replace(v, at)
            if isinstance(v, dict):
                new = {k: walk(x, f"{at}.{k}") for k, x in v.items()}
                return v if all(new[k] is v[k] for k in v) else new
            if isinstance(v, list):
                items = [walk(x, f"{at}[]") for x in v]
                return v if all(a is b for a, b in zip(items, v, strict=True)) else items
            return v

        return walk(value, place)

    def _echo_pattern(self) -> re.Pattern[str]:
        """Compiled once per record, when a keyed value first stands in another string (all keyed values are
        known by then: the record's walk is over)."""
        if self._echo is None:
            alternatives = "|".join(map(re.escape, sorted(self.keyed, key=len, reverse=True)))
            self._echo = re.compile(r"(?<![\w-])(?:" + alternatives + r")(?![\w-])")
        return self._echo

    def value(self, value: object, place: str, sensitive: str | None = None) -> object:
        """Any JSON value; the same object when nothing in it was redacted."""
        if sensitive is not None and sensitive in self.kinds and not isinstance(value, dict | list):
            return self.whole(value, sensitive, place)
        if isinstance(value, str):
            return self.text(value, place)
        if isinstance(value, dict):
            out: dict[str, object] | None = None
            for k, v in value.items():
                kind = key_kind(k) if isinstance(k, str) else None
                new = self.value(v, f"{place}.{k}", kind or sensitive)
                if new is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = new
            return value if out is None else out
        if isinstance(value, list):
            items: list[object] | None = None
            for i, v in enumerate(value):
                new = self.value(v, f"{place}[]", sensitive)
                if new is not v:
                    if items is None:
                        items = list(value)
                    items[i] = new
            return value if items is None else items
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
            digits = str(value)  # a card or phone number logged as a JSON number
            spans = self.find(digits)
            if len(spans) == 1 and spans[0][:2] == (0, len(digits)):
                return self.placeholder(spans[0][2], spans[0][3], place)
        return value

    def _fields(
        self, obj: Mapping[str, object], place: str, kept: frozenset[str], special: dict[str, _Handler]
    ) -> Mapping[str, object]:
        out: dict[str, object] | None = None
        for k, v in obj.items():
            if k in kept or v is None:
                continue
            handler = special.get(k)
            new = handler(v) if handler else self.value(v, f"{place}.{k}", key_kind(k))
            if new is not v:
                if out is None:
                    out = dict(obj)
                out[k] = new
        return obj if out is None else out

    def request(self, request: Mapping[str, object]) -> Mapping[str, object]:
        return self._fields(
            request, "request", STRUCTURAL["request"], {"messages": lambda ms: self._list(ms, "request.messages")}
        )

    def response(self, response: Mapping[str, object]) -> Mapping[str, object]:
        def choices(cs: object) -> object:
            if not isinstance(cs, list):
                return self.value(cs, "response.choices")
            return self._map(
                cs,
                lambda c: (
                    self._fields(
                        c,
                        "response.choices[]",
                        STRUCTURAL["choice"],
                        {"message": lambda m: self.message(m, "response.choices[].message")},
                    )
                    if isinstance(c, dict)
                    else self.value(c, "response.choices[]")
                ),
            )

        return self._fields(response, "response", STRUCTURAL["response"], {"choices": choices})

    def _list(self, messages: object, place: str) -> object:
        if not isinstance(messages, list):
            return self.value(messages, place)
        return self._map(messages, lambda m: self.message(m, place))

    @staticmethod
    def _map(items: list[object], fn: _Handler) -> list[object]:
        out: list[object] | None = None
        for i, item in enumerate(items):
            new = fn(item)
            if new is not item:
                if out is None:
                    out = list(items)
                out[i] = new
        return items if out is None else out

    def message(self, m: object, place: str) -> object:
        """The message with its texts redacted; the same object when it has nothing to redact."""
        if not isinstance(m, dict):
            return self.value(m, f"{place}[]")
        role = m.get("role")
        if place.endswith(".message"):  # the response's one message
            at = place
        else:
            at = f"{place}[{role}]" if isinstance(role, str) and role.isidentifier() else f"{place}[]"
        kept = _TOOL_MESSAGE_KEPT if role in ("tool", "function") else STRUCTURAL["message"]
        return self._fields(
            m,
            at,
            kept,
            {
                "content": lambda c: self._content(c, f"{at}.content"),
                "tool_calls": lambda cs: self._calls(cs, f"{at}.tool_calls[]"),
                "name": lambda n: self.value(n, f"{at}.name", "person"),
            },
        )

    def _content(self, content: object, place: str) -> object:
        if isinstance(content, str):
            return self.text(content, place)
        if isinstance(content, list):
            return self._map(
                content,
                lambda p: (
                    self._fields(p, f"{place}[]", STRUCTURAL["part"], {})
                    if isinstance(p, dict)
                    else self.value(p, f"{place}[]")
                ),
            )
        return self.value(content, place)

    def _calls(self, calls: object, place: str) -> object:
        if not isinstance(calls, list):
            return self.value(calls, place)

        def call(c: object) -> object:
            if not isinstance(c, dict):
                return self.value(c, place)
            return self._fields(
                c, place, STRUCTURAL["call"], {"function": lambda f: self._function(f, f"{place}.function")}
            )

        return self._map(calls, call)

    def _function(self, fn: object, place: str) -> object:
        if not isinstance(fn, dict):
            return self.value(fn, place)
        return self._fields(
            fn, place, _FUNCTION_KEPT, {"arguments": lambda a: self._arguments(a, f"{place}.arguments")}
        )

    def _arguments(self, args: object, place: str) -> object:
        if isinstance(args, str):  # a raw (not normalised) record: JSON text, redacted key-aware and re-serialised
            from flywheel.records import jsonio

            try:
                parsed = jsonio.loads(args)
            except ValueError:
                return self.text(args, place)
            new = self.value(parsed, place)
            return args if new is parsed else jsonio.dumps_compact(new).decode()
        return self.value(args, place)


_Handler = Callable[[object], object]
_ECHO_SKIPPED = TOP_LEVEL_KEPT - {"request", "response"}
_TOOL_MESSAGE_KEPT = STRUCTURAL["message"] | {"name"}
_REQUEST_KEPT = STRUCTURAL["request"]
_RESPONSE_KEPT = STRUCTURAL["response"]
_CHOICE_KEPT = STRUCTURAL["choice"]
_MESSAGE_KEPT = STRUCTURAL["message"]
_FUNCTION_KEPT = frozenset(("name",))
__all__ = ["BUILTIN_KINDS", "STRUCTURAL", "Redactor"]
