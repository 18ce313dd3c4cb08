"""The retry policy every NeMo call uses: which failures are transient and how long to wait.

Transient: connection errors, timeouts, 429 and 5xx (a 5xx whose body says the object already exists
is a conflict, not a hiccup: DMS answers 500 there). Waits grow exponentially with full jitter, are
capped, and honour ``Retry-After`` (capped too).
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
        ceiling = min(self.cap_s, self.base_s * (2**attempt))
        return self.rng.uniform(ceiling / 2, ceiling)


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
