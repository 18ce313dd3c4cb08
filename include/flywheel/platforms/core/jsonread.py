"""Narrowing a platform's JSON answer: the adapters read open documents only through these."""

from __future__ import annotations

from flywheel.jsontypes import JsonObject, JsonValue


def obj(value: JsonValue) -> JsonObject:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objs(value: JsonValue) -> list[JsonObject]:
    """The objects of a list (anything else is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def text(value: JsonValue) -> str:
    """A string value, else ``""`` (numbers are written out)."""
    if isinstance(value, str):
        return value
    return "" if value is None or isinstance(value, dict | list) else str(value)


def path(value: JsonValue, *keys: str) -> JsonValue:
    """``value[k1][k2]...``, None where a step is missing."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def marks_of(value: JsonValue) -> dict[str, str]:
    """An object's ``custom_fields`` as strings."""
    return {str(k): text(v) for k, v in obj(value).items()}
