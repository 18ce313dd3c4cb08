"""The NeMo wait trigger serialises to what it needs, and backs off within bounds."""

from __future__ import annotations

import asyncio
import time

import pytest

from flywheel.airflow.triggers import NemoWaitTrigger


def test_serialize_round_trip():
    t = NemoWaitTrigger(
        kind="customization",
        ref="cust-1",
        conn_id="flywheel_nemo",
        namespace="ns",
        poll_initial_s=1,
        poll_max_s=9,
        timeout_s=99,
    )
    path, kwargs = t.serialize()
    assert path == "flywheel.airflow.triggers.NemoWaitTrigger"
    again = NemoWaitTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert "api_key" not in kwargs and "password" not in str(kwargs)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown wait kind"):
        NemoWaitTrigger(kind="coffee", ref="x", conn_id="c", namespace="n")


def test_trigger_backoff_follows_its_poll_settings():
    t = NemoWaitTrigger(kind="evaluation", ref="e-1", conn_id="c", namespace="n", poll_initial_s=2, poll_max_s=8)
    b = t._backoff("seed")
    delays = [b.next() for _ in range(12)]
    assert 2 * 0.85 <= delays[0] <= 2 * 1.15 and max(delays) <= 8 and delays[-1] >= 8 * 0.85


def test_no_event_before_not_before_even_when_the_wait_fails_at_once():
    """The floor holds on every path: here the connection does not exist, so the wait fails immediately."""
    not_before = time.time() + 0.6
    t = NemoWaitTrigger(
        kind="evaluation", ref="e-1", conn_id="no_such_connection", namespace="n", not_before=not_before
    )

    async def first_event() -> dict:
        async for event in t.run():
            return event.payload
        raise AssertionError("no event")

    payload = asyncio.run(first_event())
    assert time.time() >= not_before
    assert payload["status"] == "failed" and payload["ref"] == "e-1"
