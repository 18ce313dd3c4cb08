"""One HTTP layer for every NeMo call, sync and async: timeouts, retries, typed errors, JSON decoding.

``call()`` returns a :class:`Reply` for success statuses and for statuses the caller lists in
``allow`` (e.g. 404 for "get or None"); anything else raises a :class:`~flywheel.nemo.errors.NemoError`
subclass. ``idempotent=False`` (job creation) retries only failures where the server certainly did no
work (not connected, 429, 503); other failures raise :class:`NemoAmbiguousError` so the caller can look
the job up before trying again, instead of creating a duplicate GPU job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from flywheel.nemo.errors import (
    NemoAmbiguousError,
    NemoConnectionError,
    NemoError,
    NemoResponseError,
    NemoTimeoutError,
    error_for_status,
    platform_message,
)
from flywheel.nemo.retry import NOT_SENT, REFUSED, RetryPolicy, retry_after_s, retryable_status

log = logging.getLogger("flywheel.nemo")


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str]
    url: str

    def obj(self) -> dict[str, Any]:
        """The body as a JSON object (a typed error naming the URL when it is anything else)."""
        if not isinstance(self.data, dict):
            kind = type(self.data).__name__
            raise NemoResponseError(f"expected a JSON object, got {kind}", status=self.status, url=self.url)
        return self.data


@dataclass
class _Attempt:
    """What one try produced: a reply, or an error plus whether/when to retry."""

    reply: Reply | None = None
    error: NemoError | None = None
    retry: bool = False
    retry_after: float | None = None
    sent: bool = True
    status: int | None = None


def make_timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))


def _transport_error(exc: httpx.HTTPError, method: str, url: str) -> NemoError:
    if isinstance(exc, httpx.TimeoutException):
        return NemoTimeoutError(f"{type(exc).__name__}: no answer in time", url=url, method=method)
    return NemoConnectionError(f"{type(exc).__name__}: {exc}", url=url, method=method)


def _judge(resp: httpx.Response, method: str, url: str, allow: frozenset[int], parse: bool) -> _Attempt:
    status = resp.status_code
    if status < 400 or status in allow:
        data: Any = None
        if parse and status != 204 and resp.content:
            try:
                data = json.loads(resp.content)
            except ValueError:
                snippet = resp.content[:80].decode("utf-8", errors="replace")
                bad = NemoResponseError(f"malformed JSON body: {snippet!r}", status=status, url=url, method=method)
                return _Attempt(error=bad, retry=True, status=status)
        return _Attempt(reply=Reply(status, data, resp.headers, url), status=status)
    err = error_for_status(status, platform_message(resp.content), method, url)
    return _Attempt(
        error=err,
        retry=retryable_status(status, resp.content),
        retry_after=retry_after_s(resp.headers.get("retry-after")),
        status=status,
    )


def _decide(att: _Attempt, attempt: int, policy: RetryPolicy, idempotent: bool) -> float | None:
    """Seconds to wait before retrying, or None to give up (the caller raises)."""
    if not att.retry or attempt >= policy.max_retries:
        return None
    if not idempotent and att.sent and att.status not in REFUSED:
        return None
    return policy.delay(attempt, att.retry_after)


def _give_up(att: _Attempt, idempotent: bool) -> NemoError:
    err = att.error if att.error is not None else NemoError("request failed")
    if not idempotent and att.retry and att.sent and att.status not in REFUSED:
        return NemoAmbiguousError(err)
    return err


class SyncHttp:
    def __init__(
        self,
        timeout_s: float,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy, self._sleep = policy, sleep
        self.client = httpx.Client(timeout=make_timeout(timeout_s), headers=dict(headers or {}), follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        allow: tuple[int, ...] = (),
        parse: bool = True,
        idempotent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        allowed = frozenset(allow)
        attempt = 0
        while True:
            try:
                resp = self.client.request(method, url, json=json_body, data=data, params=params, headers=headers)
                att = _judge(resp, method, url, allowed, parse)
            except httpx.HTTPError as exc:
                att = _Attempt(error=_transport_error(exc, method, url), retry=True, sent=not isinstance(exc, NOT_SENT))
            if att.reply is not None:
                return att.reply
            wait = _decide(att, attempt, self.policy, idempotent)
            if wait is None:
                raise _give_up(att, idempotent)
            log.warning(
                "NeMo %s retry %d/%d in %.1fs: %s", method, attempt + 1, self.policy.max_retries, wait, att.error
            )
            self._sleep(wait)
            attempt += 1


class AsyncHttp:
    def __init__(
        self,
        timeout_s: float,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy, self._sleep = policy, sleep
        self.client = httpx.AsyncClient(
            timeout=make_timeout(timeout_s), headers=dict(headers or {}), follow_redirects=True
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: tuple[int, ...] = (),
        parse: bool = True,
    ) -> Reply:
        allowed = frozenset(allow)
        attempt = 0
        while True:
            try:
                resp = await self.client.request(method, url, json=json_body, params=params)
                att = _judge(resp, method, url, allowed, parse)
            except httpx.HTTPError as exc:
                att = _Attempt(error=_transport_error(exc, method, url), retry=True, sent=not isinstance(exc, NOT_SENT))
            if att.reply is not None:
                return att.reply
            wait = _decide(att, attempt, self.policy, True)
            if wait is None:
                raise _give_up(att, True)
            log.warning(
                "NeMo %s retry %d/%d in %.1fs: %s", method, attempt + 1, self.policy.max_retries, wait, att.error
            )
            await self._sleep(wait)
            attempt += 1
