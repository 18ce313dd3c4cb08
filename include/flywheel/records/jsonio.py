"""Fast JSON for the data hot path (orjson), with the standard library as the exact fallback.

orjson refuses a few inputs that ``json`` accepts (``NaN``, integers beyond 64 bits, lone surrogates), and
prints a few floats differently (``1e-7`` where ``json`` prints ``1e-07``): those take the ``json`` path, so
results are the same as with ``json`` alone, only faster.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Where orjson and ``json`` print a float differently: below 1e-4 ``json`` writes an exponent with two digits
# (``1e-05``, ``1e-07``) while orjson writes ``0.00001`` or ``1e-7``. In compact output a number token starts
# after ``:``, ``,``, ``[`` or at the start; the same bytes inside a string only take the (exact) slow path.
# (A plain ``b"e-" in out`` sent every line holding a UUID such as ``9f8e-e1cf`` down the slow path, and let
# ``0.00001`` through.)
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?")


def _may_differ(out: bytes) -> bool:
    if b".0000" in out:
        return True
    i = out.find(b"e-")
    while i >= 0:  # few occurrences: checked one by one, no regex over the whole line
        if out[i + 2 : i + 3].isdigit():
            begin = i
            while begin > 0 and out[begin - 1 : begin] in _NUMBER_BYTES:
                begin -= 1
            if (begin == 0 or out[begin - 1 : begin] in b":,[") and _NUMBER.fullmatch(out, begin, i):
                return True
        i = out.find(b"e-", i + 2)
    return False


_NUMBER_BYTES = frozenset(bytes([c]) for c in b"0123456789.-")


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps_sorted(obj: Any) -> bytes:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)`` as UTF-8 bytes."""
    try:
        out = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    if _may_differ(out):  # a float that may print differently: take the reference path
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return out


def dumps_compact(obj: Any) -> bytes:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` as UTF-8 bytes."""
    try:
        out = orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    if _may_differ(out):
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return out


def dumps_compact_default(obj: Any) -> bytes:
    """:func:`dumps_compact` for values from columnar files: types JSON lacks (dates, bytes) become strings."""
    return orjson.dumps(obj, default=str)
