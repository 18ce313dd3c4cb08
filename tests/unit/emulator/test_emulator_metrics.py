from __future__ import annotations

import pytest
from sklearn.metrics import f1_score

from flywheel.emulator.metrics import EvaluationError, run_evaluation
from flywheel.emulator.nim_logic import ServedModel, answer, bracket_label, tool_calls_match
from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.state import Platform

from .records import (
    ICL_MARKER,
    classification_config,
    classification_record,
    generic_record,
    jsonl,
    similarity_config,
    tool_calling_config,
    tool_record,
)

SMALL = ServedModel("meta/llama-3.2-1b-instruct", "meta/llama-3.2-1b-instruct")
JUDGE = {
    "meta/llama-3.3-70b-instruct": ServedModel("meta/llama-3.3-70b-instruct", "meta/llama-3.3-70b-instruct", judge=True)
}


def _platform(records: list[dict]) -> Platform:
    p = Platform(EmulatorSettings(seed=5))
    p.upload("ns", "eval", {"eval_data.jsonl": jsonl(records)})
    return p


def _score(results: dict, task: str, metric: str, score: str) -> float:
    return results["tasks"][task]["metrics"][metric]["scores"][score]["value"]


def test_tool_calling_accuracies_match_a_recount() -> None:
    records = [tool_record(i) for i in range(60)]
    p = _platform(records)
    results, n = run_evaluation(p, tool_calling_config("hf://datasets/ns/eval/eval_data.jsonl"), SMALL, JUDGE)
    assert n == 60
    names = args = 0
    for rec in records:
        reply = answer(SMALL, rec["request"]["messages"], rec["request"]["tools"], p.index, 5, ICL_MARKER)
        truth = rec["response"]["choices"][0]["message"]["tool_calls"]
        names += tool_calls_match(truth, reply.get("tool_calls") or [], args=False)
        args += tool_calls_match(truth, reply.get("tool_calls") or [], args=True)
    t = "custom-tool-calling"
    assert _score(results, t, "tool-calling-accuracy", "function_name_accuracy") == pytest.approx(names / 60)
    assert _score(results, t, "tool-calling-accuracy", "function_name_and_args_accuracy") == pytest.approx(args / 60)
    assert names > args > 0
    rating = results["tasks"][t]["metrics"]["correctness"]["scores"]["rating"]
    assert rating["value"] == pytest.approx(args / 60) and rating["stats"]["count"] == 60


def test_classification_f1_is_sklearn_macro_on_the_bracketed_label() -> None:
    records = [classification_record(i) for i in range(50)]
    p = _platform(records)
    results, _ = run_evaluation(p, classification_config("hf://datasets/ns/eval/eval_data.jsonl"), SMALL, JUDGE)
    truth = [bracket_label(r["response"]["choices"][0]["message"]["content"]) for r in records]
    pred = [
        bracket_label(answer(SMALL, r["request"]["messages"], None, p.index, 5, ICL_MARKER)["content"]) for r in records
    ]
    scores = results["tasks"]["chat-completion"]["metrics"]["f1"]["scores"]
    assert scores["f1"]["value"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    assert scores["accuracy"]["value"] == pytest.approx(sum(t == q for t, q in zip(truth, pred, strict=True)) / 50)
    assert 0 < scores["f1"]["value"] < 1


def test_similarity_parser_is_applied_like_the_platform() -> None:
    # Reference answers repeated verbatim score 10; a one-digit regex reads that as 1 (reference defect §16.8).
    records = [generic_record(i) for i in range(40)]
    p = _platform(records)
    url = "hf://datasets/ns/eval/eval_data.jsonl"
    good, _ = run_evaluation(p, similarity_config(url, r"(\d+)"), SMALL, JUDGE)
    bad, _ = run_evaluation(p, similarity_config(url, r"(\d)"), SMALL, JUDGE)
    g = good["tasks"]["llm-as-judge"]["metrics"]["llm-judge"]["scores"]["similarity"]
    b = bad["tasks"]["llm-as-judge"]["metrics"]["llm-judge"]["scores"]["similarity"]
    assert 1 <= g["value"] <= 10 and g["stats"]["max"] == 10
    assert b["value"] < g["value"] and b["stats"]["max"] < 10


def test_limit_and_missing_files() -> None:
    p = _platform([tool_record(i) for i in range(30)])
    _, n = run_evaluation(p, tool_calling_config("hf://datasets/ns/eval/eval_data.jsonl", limit=7), SMALL, JUDGE)
    assert n == 7
    with pytest.raises(EvaluationError, match="does not exist"):
        run_evaluation(p, tool_calling_config("hf://datasets/ns/other/eval_data.jsonl"), SMALL, JUDGE)
