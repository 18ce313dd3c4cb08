"""The NeMo wait trigger serialises to what it needs, and backs off within bounds."""

from __future__ import annotations

import random

import pytest

from flywheel.airflow.triggers import NemoWaitTrigger, next_delay


def test_serialize_round_trip():
    t = NemoWaitTrigger(kind="customization", ref="cust-1", conn_id="flywheel_nemo", namespace="ns",
                        poll_initial_s=1, poll_max_s=9, timeout_s=99)
    path, kwargs = t.serialize()
    assert path == "flywheel.airflow.triggers.NemoWaitTrigger"
    again = NemoWaitTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert "api_key" not in kwargs and "password" not in str(kwargs)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown wait kind"):
        NemoWaitTrigger(kind="coffee", ref="x", conn_id="c", namespace="n")


def test_backoff_grows_to_cap_with_jitter():
    rng = random.Random(1)
    delays, d = [], None
    for _ in range(20):
        d = next_delay(d, 5.0, 60.0, rng)
        delays.append(d)
    assert 4.25 <= delays[0] <= 5.75
    assert max(delays) <= 60.0 and delays[-1] >= 60.0 * 0.85 * 0.85
    assert delays[5] > delays[0]
