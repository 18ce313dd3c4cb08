"""Health check of an OpenAI-compatible chat-completions endpoint (the remote LLM judge)."""

from __future__ import annotations

import time
from collections.abc import Callable

from flywheel.platforms.core.errors import NemoAuthError, NemoError, NemoResponseError
from flywheel.platforms.core.http import SyncHttp, bearer
from flywheel.platforms.core.retry import RetryPolicy


def check_chat_endpoint(
    url: str,
    model: str,
    api_key: str | None,
    timeout_s: float = 30,
    *,
    max_retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """One tiny chat completion; raises :class:`NemoError` with a clear one-line message if the judge
    cannot be used (unreachable, key rejected, model unknown, or an answer without ``choices``)."""
    if not url or not url.startswith(("http://", "https://")):
        raise NemoError(f"judge URL must be the full http(s) chat-completions URL, got {url!r}")
    headers = bearer(api_key)
    http = SyncHttp(timeout_s, RetryPolicy(max_retries=max_retries), headers, sleep)
    body = {"model": model, "messages": [{"role": "user", "content": "Reply with the word ok."}], "max_tokens": 4}
    try:
        reply = http.call("POST", url, json_body=body)
    except NemoAuthError as exc:
        hint = "no API key was given" if not api_key else "the API key was rejected"
        raise NemoAuthError(
            f"judge {model}: {hint} ({exc.message})", status=exc.status, url=url, method="POST"
        ) from None
    except NemoError as exc:
        raise type(exc)(
            f"judge {model} is not usable: {exc.message}", status=exc.status, url=url, method="POST"
        ) from None
    finally:
        http.close()
    choices = reply.data.get("choices") if isinstance(reply.data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise NemoResponseError(
            f"judge {model} answered without 'choices' (not a chat-completions endpoint?)",
            status=reply.status,
            url=url,
            method="POST",
        )
