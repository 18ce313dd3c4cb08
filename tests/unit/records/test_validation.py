"""Every rejection reason, and that validation never mutates its input."""

from __future__ import annotations

import copy
import json

import pytest

from flywheel.records.validation import Rejected, parse_line, validate
from tests.unit.datasets.factory import chat, tool


def reason(raw) -> str:
    out = validate(raw)
    assert isinstance(out, Rejected), out
    return out.reason


def test_not_json_and_not_object():
    assert parse_line("{nope").reason == "not_json"
    assert parse_line("[1, 2]").reason == "not_object"


@pytest.mark.parametrize("field", ["request", "response", "workload_id", "timestamp"])
def test_missing_fields(field):
    rec = chat("hi")
    del rec[field]
    assert reason(rec) == f"missing_{field}"


def test_wrong_types():
    assert reason({**chat("hi"), "request": "text"}) == "wrong_type_request"
    assert reason({**chat("hi"), "response": [1]}) == "wrong_type_response"
    assert reason({**chat("hi"), "timestamp": "yesterday"}) == "wrong_type_timestamp"


def test_message_level_reasons():
    rec = chat("hi")
    rec["request"]["messages"] = []
    assert reason(rec) == "no_messages"
    rec = chat("hi")
    rec["request"]["messages"].append({"content": "no role"})
    assert reason(rec) == "bad_message"
    rec = chat("hi")
    rec["response"]["choices"] = []
    assert reason(rec) == "no_assistant_choice"
    rec = chat("hi")
    rec["response"]["choices"][0]["message"]["role"] = "user"
    assert reason(rec) == "no_assistant_choice"
    assert reason(chat("hi", answer="   ")) == "empty_response"


def test_tool_call_reasons():
    rec = tool("where is it")
    rec["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{not json"
    assert reason(rec) == "tool_arguments_not_json"
    assert reason(tool("x", name="drop_tables")) == "tool_call_to_unoffered_function"


def test_valid_record_is_normalised_without_mutating_input():
    raw = tool("where is my order", args={"order": 7})
    before = copy.deepcopy(raw)
    out = validate(raw)
    assert raw == before
    call = out["response"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == {"order": 7}
    assert isinstance(
        json.loads(before["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]), dict
    )


def test_malformed_tool_calls_and_contents():
    rec = tool("x")
    rec["response"]["choices"][0]["message"]["tool_calls"] = {"not": "a list"}
    assert reason(rec) == "wrong_type_tool_calls"
    rec = tool("x")
    rec["response"]["choices"][0]["message"]["tool_calls"][0]["function"] = {"arguments": "{}"}
    assert reason(rec) == "bad_message"
    rec = chat("x")
    rec["request"]["messages"][1]["content"] = 42
    assert reason(rec) == "bad_message"
    rec = tool("x")
    rec["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "[1, 2]"
    assert reason(rec) == "tool_arguments_not_json"


def test_history_tool_arguments_become_objects_and_extra_fields_are_kept():
    rec = tool("x")
    rec["request"]["messages"].append(dict(rec["response"]["choices"][0]["message"]))
    rec["request"]["messages"].append({"role": "tool", "tool_call_id": "c1", "content": "shipped"})
    rec["request"]["messages"].append({"role": "user", "content": "thanks"})
    rec["source"] = "gateway-3"
    out = validate(rec)
    assert out["source"] == "gateway-3"
    assert out["request"]["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"q": "x"}
    assert out["request"]["messages"][3]["tool_call_id"] == "c1"


def test_loader_refuses_only_what_cannot_be_indexed(tmp_path):
    from collections import Counter

    from flywheel.records.loader import _actions, record_id

    rows = [
        chat("ok"),
        {**chat("x"), "timestamp": "noon"},
        {k: v for k, v in chat("y").items() if k != "workload_id"},
        {**chat("z"), "response": None},
    ]
    path = tmp_path / "l.jsonl"
    path.write_text("\n".join([*(json.dumps(r) for r in rows), "{bad", ""]) + "\n")
    invalid: Counter[str] = Counter()
    actions = list(_actions(path, "logs", invalid))
    assert invalid == {"wrong_type_timestamp": 1, "missing_workload_id": 1, "not_json": 1}
    assert len(actions) == 2  # a record without a response is still loaded: the build counts it
    assert actions[0]["_id"] == record_id(rows[0]) == record_id({**rows[0]})
    assert actions[0]["_source"]["record_id"] == actions[0]["_id"]
