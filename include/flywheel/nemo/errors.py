"""Typed errors of the NeMo clients: each carries the HTTP status, method, URL and the platform's message.

``str(error)`` is one line (``GET http://…/jobs/x -> 404: Customization job 'x' not found``) and never
contains request headers; URLs and messages go through :func:`flywheel.scrub.scrub`, so API keys and URL
credentials cannot leak through error messages.
"""

from __future__ import annotations

import json
from typing import Any

from flywheel.scrub import scrub

_MAX_MESSAGE = 300


class NemoError(Exception):
    """Base class: something the NeMo platform (or a NIM) answered or failed to answer."""

    def __init__(
        self, message: str, *, status: int | None = None, url: str | None = None, method: str | None = None
    ) -> None:
        self.message = one_line(scrub(message))  # no userinfo, key parameter or Authorization value survives
        self.status, self.url, self.method = status, (scrub(url) if url else url), method
        super().__init__(self.message)

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.url) if p)
        if not where:
            return self.message
        code = f" -> {self.status}" if self.status is not None else ""
        return f"{where}{code}: {self.message}"


class NemoConnectionError(NemoError):
    """The server could not be reached (connection refused/reset, DNS) even after retries."""


class NemoTimeoutError(NemoError):
    """The server did not answer within the timeout, even after retries."""


class NemoResponseError(NemoError):
    """The server answered success but the body is malformed (not JSON, missing fields)."""


class NemoHTTPError(NemoError):
    """The server answered an error status."""


class NemoBadRequestError(NemoHTTPError):
    """400/422 and other 4xx without a more specific class: the request itself is wrong."""


class NemoAuthError(NemoHTTPError):
    """401/403: the API key is missing or rejected."""


class NemoNotFoundError(NemoHTTPError):
    """404."""


class NemoConflictError(NemoHTTPError):
    """409 (or a 'already exists' answer)."""


class NemoRateLimitedError(NemoHTTPError):
    """429 even after retries."""


class NemoServerError(NemoHTTPError):
    """5xx even after retries."""


class NemoAmbiguousError(NemoError):
    """A non-idempotent request may or may not have been processed (timeout or 5xx after sending).

    Callers that create jobs look the job up by its request id before trying again."""

    def __init__(self, cause: NemoError) -> None:
        super().__init__(cause.message, status=cause.status, url=cause.url, method=cause.method)
        self.cause = cause


class NemoDeploymentError(NemoError):
    """A deployment failed, or stayed pending longer than allowed."""


class NemoJobError(NemoError):
    """A customization or evaluation job ended unsuccessfully, or timed out."""


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def platform_message(body: bytes | str, content_type: str = "") -> str:
    """The platform's error message from a response body (FastAPI ``detail``, ``message``, ``error``)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if not text.strip():
        return "(empty body)"
    try:
        data: Any = json.loads(text)
    except ValueError:
        return one_line(text, 200)
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "msg"):
            if data.get(key):
                return _render_detail(data[key])
    return one_line(json.dumps(data), 200)


def _render_detail(detail: Any) -> str:
    if isinstance(detail, list):  # pydantic validation errors: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return one_line("; ".join(parts))
    if isinstance(detail, dict):
        return one_line(str(detail.get("message") or detail.get("msg") or json.dumps(detail)))
    return one_line(str(detail))


def error_for_status(status: int, message: str, method: str, url: str) -> NemoHTTPError:
    cls: type[NemoHTTPError]
    if status == 404:
        cls = NemoNotFoundError
    elif status == 409:
        cls = NemoConflictError
    elif status in (401, 403):
        cls = NemoAuthError
    elif status == 429:
        cls = NemoRateLimitedError
    elif status >= 500:
        cls = NemoServerError
    elif status >= 400:
        cls = NemoBadRequestError
    else:
        cls = NemoHTTPError
    return cls(message, status=status, url=url, method=method)


def is_unobserved(exc: BaseException) -> bool:
    """True when ``exc`` means *we could not observe the platform* (unreachable, timed out, 429, 5xx), as
    opposed to the platform answering that something is wrong. Waits keep trying the former until their
    deadline; the latter ends the task."""
    if isinstance(exc, NemoAmbiguousError):
        return is_unobserved(exc.cause)
    return isinstance(exc, NemoConnectionError | NemoTimeoutError | NemoRateLimitedError | NemoServerError)
