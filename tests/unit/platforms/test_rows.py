"""Per-row results: NMP's result archive and Helix's row scores read into the same typed rows, with the
slice each row belongs to and the judge's own words where a judge scored it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from flywheel.jsontypes import JsonObject
from flywheel.platforms.core.scores import ScoreError
from flywheel.platforms.core.slices import row_slice
from flywheel.platforms.helix import scores as S
from flywheel.platforms.nmp import wire as W


def _call(name: str) -> JsonObject:
    return {"type": "function", "function": {"name": name, "arguments": "{}"}}


def _tool_item(*names: str) -> JsonObject:
    return {"response": {"choices": [{"message": {"role": "assistant", "tool_calls": [_call(n) for n in names]}}]}}


def _class_item(label: str) -> JsonObject:
    return {"response": {"choices": [{"message": {"role": "assistant", "content": f"It is [[{label}]]"}}]}}


def test_slices_are_tool_names_or_classes() -> None:
    assert row_slice("tool_calling", _tool_item("search", "book")) == "search+book"
    assert row_slice("tool_calling", {"response": {"choices": [{"message": {"content": "hi"}}]}}) == "none"
    assert row_slice("classification", _class_item("Billing")) == "billing"
    assert row_slice("generic", _class_item("x")) is None


def _archive(results: JsonObject, where: str = "eval-1/results.json") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(where, json.dumps(results))
        zf.writestr("eval-1/config.json", "{}")
    return buf.getvalue()


def test_nmp_rows_from_the_result_archive() -> None:
    record = {
        "item": _tool_item("search"),
        "sample": {"output_text": ""},
        "metrics": {
            "tool-calling-accuracy": {
                "scores": {"function_name_accuracy": {"value": 1.0}, "function_name_and_args_accuracy": {"value": 0.0}}
            },
            "correctness": {"scores": {"rating": {"value": None}}},
        },
    }
    rows = W.rows(W.results_json(_archive({"custom-tool-calling": [record, {**record, "item": _tool_item("book")}]})))
    assert [(r.row_id, r.slice) for r in rows] == [("0", "search"), ("1", "book")]
    assert rows[0].scores == {
        "tool-calling-accuracy.function_name_accuracy": 1.0,
        "tool-calling-accuracy.function_name_and_args_accuracy": 0.0,
        "correctness.rating": None,  # the judge's answer did not parse
    }
    assert rows[0].judge_answer is None  # NMP 25.x's per-item record carries no judge text
    with pytest.raises(ScoreError, match=r"no results\.json"):
        W.results_json(_archive({}, where="eval-1/other.json"))
    with pytest.raises(ScoreError, match="not a ZIP"):
        W.results_json(b"{}")


def test_helix_rows_with_the_judges_answer() -> None:
    row = {
        "row_index": 3,
        "item": _class_item("tech"),
        "sample": {"output_text": "[[tech]]"},
        "metrics": {
            "llm-judge": [{"name": "rating", "value": 1}],
            "tool-calling": [{"name": "function_name_accuracy", "value": 0.5}],
        },
        "requests": [
            {"response": {"choices": [{"message": {"content": "[[tech]]"}}]}},
            {"response": {"choices": [{"message": {"content": "RATING: 1\nEXPLANATION: same"}}]}},
        ],
    }
    (got,) = S.rows("classification", [row])
    assert (got.row_id, got.slice, got.judge_answer) == ("3", "tech", "RATING: 1\nEXPLANATION: same")
    assert got.scores == {"correctness.rating": 1.0, "tool-calling-accuracy.function_name_accuracy": 0.5}
    (plain,) = S.rows("classification", [{**row, "metrics": {"exact-match": [{"name": "exact-match", "value": 0}]}}])
    assert plain.scores == {"f1.accuracy": 0.0} and plain.judge_answer is None
