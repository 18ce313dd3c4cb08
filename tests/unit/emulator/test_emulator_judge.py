"""The emulator's judge over chat rates what it is shown (right high, wrong low) in both prompt formats, and the
``judge_always_top`` fault turns it into a broken judge that rates everything top — over chat and inside an
evaluation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from flywheel.emulator.faults import FAULT_LIST, FaultBook
from flywheel.emulator.metrics import run_evaluation
from flywheel.emulator.nim_logic import judge_chat_reply
from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.state import Platform

from .records import generic_record, jsonl, similarity_config, tool_calling_config, tool_record
from .test_emulator_metrics import JUDGE, SMALL

CALL = {"id": "c1", "type": "function", "function": {"name": "cancel_order", "arguments": '{"order_id": "A1"}'}}


def _similarity(reference: str, candidate: str) -> list[dict[str, str]]:
    user = (
        f"Task given to the assistant:\n[]\n\nReference answer:\n{reference}\n\n"
        f"Candidate answer:\n{candidate}\n\nScore (1-10):"
    )
    return [
        {"role": "system", "content": "You grade how close a candidate answer is."},
        {"role": "user", "content": user},
    ]


def _correctness(expected: object, predicted: object) -> list[dict[str, str]]:
    user = f"Expected tool calls:\n{json.dumps(expected)}\n\nPredicted tool calls:\n{json.dumps(predicted)}"
    return [{"role": "system", "content": "Answer 'RATING: 1' or 'RATING: 0'."}, {"role": "user", "content": user}]


def test_similarity_prompts_are_rated_by_the_answers() -> None:
    same = "Standard shipping to Japan takes 3 to 6 business days and costs $12."
    assert judge_chat_reply(_similarity(same, same)) == "10"
    assert judge_chat_reply(_similarity(same, "I am not sure I understand the question.")) == "1"
    assert 1 < int(judge_chat_reply(_similarity(same, "Standard shipping to Japan takes 3 to 6"))) < 10
    assert judge_chat_reply([{"role": "user", "content": "ping"}]) == "OK"


def test_json_tool_call_prompts_are_compared_call_by_call() -> None:
    assert judge_chat_reply(_correctness([CALL], [CALL])).startswith("RATING: 1")
    wrong_arg = {**CALL, "function": {"name": "cancel_order", "arguments": '{"order_id": "A2"}'}}
    assert judge_chat_reply(_correctness([CALL], [wrong_arg])).startswith("RATING: 0")
    assert judge_chat_reply(_correctness([CALL], None)).startswith("RATING: 0")  # no prediction (tojson of null)
    reordered = {**CALL, "function": {"name": "cancel_order", "arguments": '{"order_id": "a1"}'}}
    assert judge_chat_reply(_correctness([CALL], [reordered])).startswith("RATING: 1")  # case/space-insensitive


def test_helix_listed_calls_still_compared() -> None:
    text = (
        'Expected tool calls:\ncancel_order({"order_id": "A1"})\n\n'
        "Predicted tool calls:\ncancel_order({'order_id': 'A1'})"
    )
    assert judge_chat_reply([{"role": "system", "content": "RATING"}, {"role": "user", "content": text}]).startswith(
        "RATING: 1"
    )


def test_always_top_rates_everything_top() -> None:
    assert judge_chat_reply(_similarity("a b c", "x y z"), always_top=True) == "10"
    assert judge_chat_reply(_correctness([CALL], []), always_top=True).startswith("RATING: 1")


def test_the_fault_parses_and_matches_its_judge() -> None:
    book = FaultBook(FAULT_LIST.validate_python([{"kind": "judge_always_top", "model": JUDGE_ID}]))
    assert book.judge_always_top(JUDGE_ID) and not book.judge_always_top("other/judge")
    assert FaultBook(FAULT_LIST.validate_python([{"kind": "judge_always_top"}])).judge_always_top("any/judge")
    assert not FaultBook().judge_always_top(JUDGE_ID)
    with pytest.raises(ValidationError):
        FAULT_LIST.validate_python([{"kind": "judge_always_top", "rating": 10}])


JUDGE_ID = next(iter(JUDGE))


def _platform(records: list[dict], faults: list[dict] | None = None) -> Platform:
    p = Platform(EmulatorSettings(seed=5, faults=faults or []))
    p.upload("ns", "eval", {"eval_data.jsonl": jsonl(records)})
    return p


@pytest.mark.parametrize("remote", [False, True])
def test_inside_an_evaluation_the_broken_judge_inflates_judge_scores(remote: bool) -> None:
    url = "hf://datasets/ns/eval/eval_data.jsonl"
    judge = (
        {"api_endpoint": {"url": "http://judge.invalid/v1/chat/completions", "model_id": JUDGE_ID}}
        if remote
        else JUDGE_ID
    )
    sim_records, tool_records = [generic_record(i) for i in range(40)], [tool_record(i) for i in range(40)]
    scores = {}
    for faults in ([], [{"kind": "judge_always_top"}]):
        sim, _ = run_evaluation(_platform(sim_records, faults), similarity_config(url, judge=judge), SMALL, JUDGE)
        tools, _ = run_evaluation(_platform(tool_records, faults), tool_calling_config(url, judge=judge), SMALL, JUDGE)
        scores[bool(faults)] = (
            sim["tasks"]["llm-as-judge"]["metrics"]["llm-judge"]["scores"]["similarity"]["value"],
            tools["tasks"]["custom-tool-calling"]["metrics"]["correctness"]["scores"]["rating"]["value"],
            tools["tasks"]["custom-tool-calling"]["metrics"]["tool-calling-accuracy"]["scores"],
        )
    honest, broken = scores[False], scores[True]
    assert honest[0] < 10 and honest[1] < 1
    assert broken[0] == 10 and broken[1] == 1
    assert broken[2] == honest[2]  # exact metrics are not the judge's: unchanged
