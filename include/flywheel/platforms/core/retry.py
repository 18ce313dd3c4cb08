"""Retries and polling waits of every platform call: which failures are transient and how long to wait.

One formula for every wait (:func:`backoff_s`): ``base · factorⁿ``, capped, then jittered *down* by up
to ``jitter`` (so a wait never exceeds its cap). :class:`RetryPolicy` (HTTP retries: factor 2, half
jitter, ``Retry-After`` honoured and capped), :class:`Backoff` (a trigger's polls) and the operators'
outage pauses all use it.

Transient: connection errors, timeouts, 429 and 5xx (a 5xx whose body says the object already exists
is a conflict, not a hiccup: DMS answers 500 there).
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

import httpx

# errors raised before the request reached the server: always safe to retry
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# statuses the server uses to refuse work without doing it: safe to retry even for creations
REFUSED = frozenset({429, 503})


def backoff_s(attempt: int, *, base_s: float, cap_s: float, factor: float, jitter: float, rng: random.Random) -> float:
    """The wait before try ``attempt + 1`` (``attempt`` counts from 0): ``min(cap_s, base_s·factorᵃᵗᵗᵉᵐᵖᵗ)``
    times a uniform draw in ``[1 - jitter, 1]``."""
    ceiling = min(cap_s, base_s * factor ** min(max(attempt, 0), 64))
    return ceiling * rng.uniform(1.0 - jitter, 1.0)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    base_s: float = 0.5
    cap_s: float = 10.0
    max_retry_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be ≥ 0")
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("retry waits need 0 < base_s ≤ cap_s")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s) + self.rng.uniform(0, 0.1)
        return backoff_s(attempt, base_s=self.base_s, cap_s=self.cap_s, factor=2.0, jitter=0.5, rng=self.rng)


@dataclass
class Backoff:
    """Polling waits: :func:`backoff_s` from ``initial_s`` by ``factor`` up to ``cap_s``, one step per
    :meth:`next` (``jitter`` is the fraction a wait may fall short of its step)."""

    initial_s: float = 5.0
    cap_s: float = 60.0
    factor: float = 1.6
    jitter: float = 0.15
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _attempt: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.cap_s:
            raise ValueError("Backoff needs 0 < initial_s ≤ cap_s")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("Backoff needs factor ≥ 1 and 0 ≤ jitter < 1")

    def delay(self, attempt: int) -> float:
        """The wait of step ``attempt`` (from 0), without moving :meth:`next`'s position."""
        return backoff_s(
            attempt, base_s=self.initial_s, cap_s=self.cap_s, factor=self.factor, jitter=self.jitter, rng=self.rng
        )

    def next(self) -> float:
        wait = self.delay(self._attempt)
        self._attempt += 1
        return wait

    def reset(self) -> None:
        self._attempt = 0


def retryable_status(status: int, body: bytes = b"") -> bool:
    if status == 429:
        return True
    if status >= 500:
        return b"already exists" not in body.lower()
    return False


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (now if now is not None else time.time()), 0.0)
