"""Response headers of the Flywheel page: a strict Content-Security-Policy (scripts and styles only from the
page's own static files; the per-run report allows exactly its inline assets, by hash), no MIME sniffing, a
same-origin referrer, and framing by Airflow's own UI only (``frame-ancestors 'self'``)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_COMMON = "base-uri 'none'; object-src 'none'"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    f"form-action 'self'; {_COMMON}; frame-ancestors 'self'"
)
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "SAMEORIGIN",  # for browsers without CSP frame-ancestors
}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@cache
def report_csp(meta: bool = False) -> str:
    """The per-run report's policy: its inline style and scripts by hash, nothing else. ``meta=True`` is the
    form a ``<meta http-equiv>`` tag can carry (browsers ignore frame-ancestors there)."""
    from flywheel.ui.render import INLINE, asset

    scripts = " ".join(_sha256(asset(INLINE[k])) for k in ("chart", "flywheel"))
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {_sha256(asset(INLINE['css']))}; "
        f"form-action 'none'; {_COMMON}"
    )
    return policy if meta else f"{policy}; frame-ancestors 'self'"


def security_headers(csp: str = PAGE_CSP) -> dict[str, str]:
    return {"content-security-policy": csp, **HEADERS}


class SecurityHeaders:
    """Pure ASGI middleware: every HTTP response gets the headers above unless it set its own value (the
    report sets its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.decode("latin-1").lower() for k, _ in headers}
                for name, value in security_headers().items():
                    if name not in present:
                        headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_secured)
