"""The one backoff formula, polling backoff, the pending watchdog and the HTTP retry policy (pure arithmetic,
seeded randomness)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from flywheel.platforms.core.errors import NemoDeploymentError
from flywheel.platforms.core.retry import Backoff, RetryPolicy, backoff_s, retry_after_s, retryable_status
from flywheel.platforms.core.states import DeploymentInfo, PendingWatch


def test_the_formula_grows_by_factor_caps_and_jitters_only_downwards() -> None:
    rng = random.Random(7)
    for attempt in range(80):  # far past the cap: no overflow
        ceiling = min(30.0, 2.0 * 3.0**attempt)
        wait = backoff_s(attempt, base_s=2.0, cap_s=30.0, factor=3.0, jitter=0.25, rng=rng)
        assert ceiling * 0.75 <= wait <= ceiling
    exact = [backoff_s(a, base_s=1.0, cap_s=5.0, factor=2.0, jitter=0.0, rng=rng) for a in range(5)]
    assert exact == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_policy_backoff_and_pauses_are_the_same_formula() -> None:
    """RetryPolicy.delay, Backoff.next and Backoff.delay (the operators' outage pauses) draw the same
    waits from the same seed: one formula, three parameter sets."""
    policy = RetryPolicy(base_s=0.5, cap_s=8.0, rng=random.Random(11))
    same = random.Random(11)
    assert [policy.delay(a) for a in range(6)] == [
        backoff_s(a, base_s=0.5, cap_s=8.0, factor=2.0, jitter=0.5, rng=same) for a in range(6)
    ]
    polls, pauses = Backoff(rng=random.Random(5)), Backoff(rng=random.Random(5))
    assert [polls.next() for _ in range(6)] == [pauses.delay(a) for a in range(6)]


def test_backoff_starts_near_initial_grows_and_caps() -> None:
    b = Backoff(rng=random.Random(1))
    waits = [b.next() for _ in range(20)]
    assert 5 * 0.85 <= waits[0] <= 5 * 1.15
    assert waits[3] > waits[0]
    assert max(waits) <= 60.0 and waits[-1] >= 60 * 0.85
    b.reset()
    assert b.next() <= 5 * 1.15


def test_backoff_is_configurable_and_validated() -> None:
    b = Backoff(initial_s=0.1, cap_s=0.3, factor=2, jitter=0, rng=random.Random(0))
    assert [round(b.next(), 3) for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]
    with pytest.raises(ValueError):
        Backoff(initial_s=10, cap_s=5)
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


def info(status: str) -> DeploymentInfo:
    return DeploymentInfo.from_raw({"name": "d", "namespace": "ns", "status_details": {"status": status}})


def test_pending_watch_fails_a_stuck_deployment_with_a_message() -> None:
    now = [0.0]
    watch = PendingWatch(limit_s=100, clock=lambda: now[0])
    watch.observe(info("created"))
    now[0] = 60
    watch.observe(info("pending"))
    now[0] = 90
    watch.observe(info("running"))  # progress resets the watch
    now[0] = 150
    watch.observe(info("pending"))
    now[0] = 240
    watch.observe(info("pending"))
    now[0] = 251
    with pytest.raises(NemoDeploymentError, match=r"ns/d stuck in 'pending' for more than 100s"):
        watch.observe(info("pending"))


def test_retry_delays_are_capped_jittered_and_honour_retry_after() -> None:
    p = RetryPolicy(max_retries=8, base_s=0.5, cap_s=4.0, rng=random.Random(3))
    for attempt in range(10):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= p.delay(attempt) <= ceiling
    assert 2.0 <= p.delay(0, retry_after=2) <= 2.1
    assert p.delay(0, retry_after=3600) <= 60.1  # a huge Retry-After is capped
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_retry_after_parsing() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s("0.5") == 0.5
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now.timestamp()) == 30.0


def test_retryable_statuses() -> None:
    assert retryable_status(503) and retryable_status(500) and retryable_status(429) and retryable_status(504)
    assert not retryable_status(404) and not retryable_status(422) and not retryable_status(409)
    # DMS answers 500 for an existing deployment: that is a conflict, not a transient failure
    assert not retryable_status(500, b'{"detail": "model deployment already exists"}')
