"""jsonio: orjson on the hot path, byte for byte what the standard library writes."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from flywheel.records import jsonio

_TRICKY = [
    1e-05,  # orjson writes 0.00001, json 1e-05
    1e-07,  # orjson 1e-7, json 1e-07
    -3e-09,
    0.0001,
    0.00012,
    1e22,
    1.5,
    12.0,
    2**70,  # beyond 64 bits: orjson refuses it
    [1, -2.5e-08],
    {"a": 1e-06, "b": "ref 9f8e-e1cf and 8e-1 in a string"},
    {"text": "0.00001 in a string", "n": 3},
]


@pytest.mark.parametrize("value", _TRICKY, ids=repr)
def test_compact_and_sorted_equal_the_standard_library(value: object) -> None:
    assert jsonio.dumps_compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert (
        jsonio.dumps_sorted(value)
        == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    )


def test_random_floats_equal_the_standard_library() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        x = rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30)
        for value in (x, [x], {"k": x, "s": "e-1"}):
            assert jsonio.dumps_compact(value) == json.dumps(value, separators=(",", ":")).encode(), x


def test_a_uuid_in_a_string_keeps_the_fast_path() -> None:
    # the check that sends a line to the standard library looks at number tokens, not at string contents
    assert not jsonio._may_differ(orjson.dumps({"ref": "ef24bd62-af29-9f8e-e1cf-c8c6134bccd3", "n": 1}))
    assert jsonio._may_differ(orjson.dumps({"x": 1e-7}))
