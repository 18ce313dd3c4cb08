"""Render the configuration reference (docs/configuration.md) from the pydantic models, so docs cannot drift."""

from __future__ import annotations

import types
import typing
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from flywheel.config import FlywheelConfig

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is list:
        return f"list[{_type_name(typing.get_args(annotation)[0])}]"
    if origin is dict:
        k, v = typing.get_args(annotation)
        return f"map[{_type_name(k)}, {_type_name(v)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, timedelta):
        return f"`{value}` (ISO-8601 duration or seconds)"
    return f"`{value!r}`" if value not in (None, [], {}) else f"`{value}`"


def _constraints(field: Any) -> str:
    parts = []
    for m in field.metadata:
        for name, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, name, None) is not None:
                parts.append(f"{sym} {getattr(m, name)}")
        if getattr(m, "pattern", None):
            parts.append(f"pattern `{m.pattern}`")
        if getattr(m, "min_length", None):
            parts.append(f"at least {m.min_length}")
    return ", ".join(parts)


def _section(path: str, model: type[BaseModel], out: list[str]) -> None:
    doc = (model.__doc__ or "").strip().splitlines()
    out.append(f"#### `{path}`" + (f" — {' '.join(line.strip() for line in doc)}" if doc else ""))
    out.append("")
    out.append("| key | type | default | constraints |")
    out.append("|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        inner = [a for a in (typing.get_args(ann) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if typing.get_origin(ann) is list:
            inner = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        out.append(f"| `{name}` | {_type_name(ann)} | {_default(field)} | {_constraints(field)} |")
        for sub in inner:
            suffix = "[]" if typing.get_origin(ann) is list else ""
            nested.append((f"{path}.{name}{suffix}" if path else f"{name}{suffix}", sub))
    out.append("")
    for sub_path, sub in nested:
        _section(sub_path, sub, out)


def render() -> str:
    out: list[str] = []
    _section("", FlywheelConfig, out)
    text = "\n".join(out).replace("#### ``", "#### (top level)", 1)
    return f"{START}\n{text.rstrip()}\n{END}"


def update_doc(path: str) -> bool:
    """Replace the block between the markers; True when the file changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.index(START), text.index(END) + len(END)
    new = text[:start] + render() + text[end:]
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":
    import sys

    print(render() if len(sys.argv) < 2 else ("updated" if update_doc(sys.argv[1]) else "up to date"))
