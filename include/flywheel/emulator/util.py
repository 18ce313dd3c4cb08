"""Small helpers shared by the emulator modules: ids, timestamps, errors, paging."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException

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


def page(items: list[dict[str, Any]], page_no: int = 1, page_size: int = 100) -> dict[str, Any]:
    """The platform's list envelope (``data`` + ``pagination``)."""
    page_no, page_size = max(page_no, 1), max(min(page_size, 1000), 1)
    chunk = items[(page_no - 1) * page_size : page_no * page_size]
    total_pages = max((len(items) + page_size - 1) // page_size, 1)
    return {
        "object": "list",
        "data": chunk,
        "pagination": {
            "page": page_no,
            "page_size": page_size,
            "current_page_size": len(chunk),
            "total_pages": total_pages,
            "total_results": len(items),
        },
    }


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
