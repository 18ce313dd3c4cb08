"""A spilled record is its train line plus the rest: joined back, it is the normalised record again."""

from __future__ import annotations

import random

import pytest

from flywheel.datasets import formats
from flywheel.datasets.scan import NO_TOOLS, WITH_TOOLS, joined, split_record
from flywheel.datasets.types import TOOL_CALLING
from flywheel.records.validation import validate
from tests.unit.datasets.factory import bulk_record, chat, labelled, tool


def _odd_records() -> list[dict]:
    rng = random.Random(3)
    out = [bulk_record(i, rng) for i in range(30)] + [tool("q"), labelled("h", "earnings"), chat("hello")]
    history_call = tool("q2")  # an assistant turn with a null content in the history, then a tool result
    history_call["request"]["messages"] += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t", "function": {"name": "lookup", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "t", "content": '{"ok": 1e-7}'},
        {"role": "user", "content": [{"type": "text", "text": "parts"}, {"type": "image_url", "b": 1, "a": 2}]},
    ]
    no_tools = chat("x") | {"extra": {"b": [1, 2.5, None]}, "client_id": None}
    no_tools["request"]["tools"] = []
    no_tools["request"]["temperature"] = 0.25
    return [*out, history_call, no_tools]


@pytest.mark.parametrize("raw", _odd_records(), ids=lambda r: str(r["request"]["messages"][-1]["content"])[:20])
def test_joined_gives_back_the_record_and_the_first_line_is_its_train_line(raw):
    rec = validate(raw)
    assert isinstance(rec, dict)
    first, rest, end = split_record(rec).split(b"\n")
    assert end == b"" and joined(first, rest) == rec
    assert first[:1] == (WITH_TOOLS if rec["request"].get("tools") else NO_TOOLS)
    assert first[1:] == formats.dumps_bytes(formats.train_line(rec, TOOL_CALLING))
