"""One HTTP layer for every NeMo call, sync and async: timeouts, retries, typed errors, JSON decoding.

``call()`` returns a :class:`Reply` for success statuses and for statuses the caller lists in
``allow`` (e.g. 404 for "get or None"); anything else raises a :class:`~flywheel.platforms.core.errors.NemoError`
subclass. ``idempotent=False`` (job creation) retries only failures where the server certainly did no
work (not connected, 429, 503); other failures raise :class:`NemoAmbiguousError` so the caller can look
the job up before trying again, instead of creating a duplicate GPU job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx

from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.errors import (
    NemoAmbiguousError,
    NemoConnectionError,
    NemoError,
    NemoResponseError,
    NemoTimeoutError,
    error_for_status,
    platform_message,
)
from flywheel.platforms.core.retry import NOT_SENT, REFUSED, RetryPolicy, retry_after_s, retryable_status

log = logging.getLogger("flywheel.nemo")
T = TypeVar("T")


def bearer(api_key: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``api_key`` (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@dataclass(frozen=True)
class Reply:
    status: int
    data: JsonValue
    headers: Mapping[str, str]
    url: str
    content: bytes = b""

    def obj(self) -> JsonObject:
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
        data: JsonValue = None
        if parse and status != 204 and resp.content:
            try:
                data = json.loads(resp.content)
            except ValueError:
                snippet = resp.content[:80].decode("utf-8", errors="replace")
                bad = NemoResponseError(f"malformed JSON body: {snippet!r}", status=status, url=url, method=method)
                return _Attempt(error=bad, retry=True, status=status)
        return _Attempt(reply=Reply(status, data, resp.headers, url, resp.content), status=status)
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


@dataclass(frozen=True)
class Call:
    """One platform request as data: what a sans-IO operation asks the transport to do."""

    method: str
    url: str
    json_body: object = None
    params: Mapping[str, str | int] | None = None
    allow: tuple[int, ...] = ()
    parse: bool = True
    idempotent: bool = True
    form: Mapping[str, str] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    retries: bool = True


@dataclass(frozen=True)
class Pause:
    """A wait inside an operation (a poll, a pause after a conflict)."""

    seconds: float


# A sans-IO operation: yields Calls and Pauses, is sent each Call's Reply (None after a Pause), and
# returns its answer. ``SyncHttp.run`` and ``AsyncHttp.run`` drive the same operation, so every adapter
# method is written once for both.
Flow = Generator[Call | Pause, Reply | None, T]


def fetch(call: Call) -> Flow[Reply]:
    """``reply = yield from fetch(Call(...))`` inside an operation."""
    reply = yield call
    if reply is None:
        raise NemoError(f"{call.method} {call.url}: the transport sent no reply")
    return reply


def pause(seconds: float) -> Flow[None]:
    yield Pause(seconds)


# The retry loop, written once: it yields the attempts to make and the waits between them, and is sent
# each attempt's response (or its transport error).
_Tries = Generator[float | None, httpx.Response | httpx.HTTPError | None, Reply]


def _tries(call: Call, policy: RetryPolicy) -> _Tries:
    allowed = frozenset(call.allow)
    attempt = 0
    while True:
        got = yield None
        if isinstance(got, httpx.Response):
            att = _judge(got, call.method, call.url, allowed, call.parse)
        else:
            exc = got if isinstance(got, httpx.HTTPError) else httpx.TransportError("no response")
            att = _Attempt(
                error=_transport_error(exc, call.method, call.url), retry=True, sent=not isinstance(exc, NOT_SENT)
            )
        if att.reply is not None:
            return att.reply
        wait = _decide(att, attempt, policy, call.idempotent) if call.retries else None
        if wait is None:
            raise _give_up(att, call.idempotent)
        log.warning("NeMo %s retry %d/%d in %.1fs: %s", call.method, attempt + 1, policy.max_retries, wait, att.error)
        yield wait
        attempt += 1


class SyncHttp:
    def __init__(
        self,
        timeout_s: float,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy, self.sleep = policy, sleep
        self.client = httpx.Client(timeout=make_timeout(timeout_s), headers=dict(headers or {}), follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    def send(self, call: Call) -> Reply:
        tries = _tries(call, self.policy)
        step = next(tries)
        try:
            while True:
                if step is not None:
                    self.sleep(step)
                    step = next(tries)
                    continue
                try:
                    got: httpx.Response | httpx.HTTPError = self.client.request(
                        call.method,
                        call.url,
                        json=call.json_body,
                        data=call.form,
                        params=call.params,
                        headers=call.headers,
                        content=call.content,
                    )
                except httpx.HTTPError as exc:
                    got = exc
                step = tries.send(got)
        except StopIteration as done:
            reply: Reply = done.value
            return reply

    def call(
        self,
        method: str,
        url: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        allow: tuple[int, ...] = (),
        parse: bool = True,
        idempotent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        call = Call(method, url, json_body, params, allow, parse, idempotent, form, headers=headers)
        return self.send(call)

    def run(self, flow: Flow[T]) -> T:
        """Drive a sans-IO operation to its answer."""
        try:
            step = next(flow)
            while True:
                if isinstance(step, Pause):
                    self.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    reply = self.send(step)
                except NemoError as exc:
                    step = flow.throw(exc)
                    continue
                step = flow.send(reply)
        except StopIteration as done:
            answer: T = done.value
            return answer


class AsyncHttp:
    def __init__(
        self,
        timeout_s: float,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy, self.sleep = policy, sleep
        self.client = httpx.AsyncClient(
            timeout=make_timeout(timeout_s), headers=dict(headers or {}), follow_redirects=True
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, call: Call) -> Reply:
        tries = _tries(call, self.policy)
        step = next(tries)
        try:
            while True:
                if step is not None:
                    await self.sleep(step)
                    step = next(tries)
                    continue
                try:
                    got: httpx.Response | httpx.HTTPError = await self.client.request(
                        call.method,
                        call.url,
                        json=call.json_body,
                        data=call.form,
                        params=call.params,
                        headers=call.headers,
                        content=call.content,
                    )
                except httpx.HTTPError as exc:
                    got = exc
                step = tries.send(got)
        except StopIteration as done:
            reply: Reply = done.value
            return reply

    async def call(
        self,
        method: str,
        url: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        allow: tuple[int, ...] = (),
        parse: bool = True,
        idempotent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        call = Call(method, url, json_body, params, allow, parse, idempotent, form, headers=headers)
        return await self.send(call)

    async def run(self, flow: Flow[T]) -> T:
        """Drive a sans-IO operation to its answer."""
        try:
            step = next(flow)
            while True:
                if isinstance(step, Pause):
                    await self.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    reply = await self.send(step)
                except NemoError as exc:
                    step = flow.throw(exc)
                    continue
                step = flow.send(reply)
        except StopIteration as done:
            answer: T = done.value
            return answer
