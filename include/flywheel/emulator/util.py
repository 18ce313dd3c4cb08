"""Small helpers shared by the emulator modules: ids, timestamps, errors, paging, answer models."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

T = TypeVar("T")

# Helix object names (Python ``re``: pydantic's Rust regex has no look-arounds)
HELIX_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9\-@.+_]{1,62}(?<!-)$")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A platform-style id: ``<prefix>-`` + base58 of a uuid4 (like ``cust-DbcC6k3UH3iDhfnhats9ZP``)."""
    n, out = uuid.uuid4().int, ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return f"{prefix}-{out}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def http_error(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


class OmitNone(BaseModel):
    """An answer whose unset optional keys are absent rather than ``null`` (the platform's habit)."""

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return {k: v for k, v in handler(self).items() if v is not None}


class Pagination(BaseModel):
    page: int
    page_size: int
    current_page_size: int
    total_pages: int
    total_results: int


class Page(BaseModel, Generic[T]):
    """The NMP list envelope (``object`` + ``data`` + ``pagination``)."""

    object: Literal["list"] = "list"
    data: list[T]
    pagination: Pagination


class HelixPage(BaseModel, Generic[T]):
    """The Helix v2 list envelope: everything on one page, newest first."""

    data: list[T]
    pagination: Pagination
    sort: str = "-created_at"
    filter: None = None

    @classmethod
    def of(cls, items: Sequence[T]) -> HelixPage[T]:
        n = len(items)
        pagination = Pagination(page=1, page_size=max(n, 1), current_page_size=n, total_pages=1, total_results=n)
        return cls(data=list(items), pagination=pagination)


def paged(items: Sequence[T], page_no: int = 1, page_size: int = 100) -> Page[T]:
    """One page of ``items`` in the NMP envelope (``page`` from 1, ``page_size`` clamped to 1..1000)."""
    page_no, page_size = max(page_no, 1), max(min(page_size, 1000), 1)
    chunk = list(items[(page_no - 1) * page_size : page_no * page_size])
    total_pages = max((len(items) + page_size - 1) // page_size, 1)
    pagination = Pagination(
        page=page_no,
        page_size=page_size,
        current_page_size=len(chunk),
        total_pages=total_pages,
        total_results=len(items),
    )
    return Page(data=chunk, pagination=pagination)


def page(items: list[dict[str, Any]], page_no: int = 1, page_size: int = 100) -> dict[str, Any]:
    """:func:`paged` as a plain dict, for the routes that still build their answers as dicts (Evaluator)."""
    return paged(items, page_no, page_size).model_dump()


def split_ref(ref: str) -> tuple[str, str]:
    """``namespace/name`` → (namespace, name); raises 422 when there is no namespace."""
    ns, sep, name = ref.partition("/")
    if not sep or not ns or not name:
        raise http_error(422, f"'{ref}' must be '<namespace>/<name>'")
    return ns, name


def helix_name_check(name: str) -> str:
    if not HELIX_NAME.match(name):
        raise ValueError("name must start with a lowercase letter, be 2-63 of [a-z0-9-@.+_], no '--', no trailing '-'")
    return name
