"""Credentials out of every line a person or a log reads: one helper for errors, logs and CLI output.

:func:`scrub` removes the userinfo of URLs (``https://user:pw@host`` → ``https://***@host``), the value of
credential query parameters (``?api_key=…``), ``Authorization`` header values, and every known secret value
(as written, URL-quoted and base64-encoded in a Basic header), wherever it appears in the text.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_SHORT = 6

# scheme://userinfo@ — userinfo ends at the last "@" before the path, query, fragment or whitespace
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@]*(?:@[^\s/?#@]*)*@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:api[_-]?key|apikey|password|passwd|pwd|token|access_token|secret|client_secret)=)[^&#\s]+",
    re.I,
)
_AUTH_HEADER = re.compile(r"(?P<key>\bauthorization['\"]?\s*[:=]\s*['\"]?(?:basic|bearer|apikey)\s+)[^\s'\",}]+", re.I)


def _forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, URL-quoted (both styles)."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


def scrub(text: object, secrets: Iterable[str | None] = (), users: Iterable[str | None] = ()) -> str:
    """``text`` with credentials replaced by ``***``. ``secrets``: known secret values (passwords, keys);
    ``users``: logins whose ``user:secret`` Basic-auth token must go too."""
    out = str(text)
    known = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first: no partial leftovers
    for secret in known:
        for user in {u for u in users if u}:
            out = out.replace(base64.b64encode(f"{user}:{secret}".encode()).decode(), MASK)
        for form in sorted(_forms(secret), key=len, reverse=True):
            if len(form) >= _SHORT:
                out = out.replace(form, MASK)
            else:  # a short value also occurs inside words ("x" in "index"): replace it only standing alone
                out = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", MASK, out)
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", out)
    return _AUTH_HEADER.sub(lambda m: f"{m['key']}{MASK}", out)


def has_credentials(url: str) -> bool:
    """True when ``url`` may carry credentials: an ``@`` after the scheme (a userinfo part, however its
    password is written) or a credential query parameter. Such a URL is never printed, even scrubbed."""
    rest = url.split("://", 1)[-1].split(None, 1)[0] if url.strip() else ""
    return "@" in rest or bool(_QUERY_SECRET.search(url))
