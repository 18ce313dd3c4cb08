"""Fast JSON for the data hot path (orjson), with the standard library as the exact fallback.

orjson refuses a few inputs that ``json`` accepts (``NaN``, integers beyond 64 bits, lone surrogates), and
prints a few floats differently (``1e-7`` where ``json`` prints ``1e-07``): those take the ``json`` path, so
results are the same as with ``json`` alone, only faster.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


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
        out = b"e-"
    if b"e-" in out:  # a float with a negative exponent may print differently: take the reference path
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return out


def dumps_compact(obj: Any) -> bytes:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` as UTF-8 bytes."""
    try:
        out = orjson.dumps(obj)
    except TypeError:
        out = b"e-"
    if b"e-" in out:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return out


def dumps_compact_default(obj: Any) -> bytes:
    """:func:`dumps_compact` for values from columnar files: types JSON lacks (dates, bytes) become strings."""
    return orjson.dumps(obj, default=str)
