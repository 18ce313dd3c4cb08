"""Score readers: evaluator results → report scores (docs/contracts.md#results), floats in [0, 1]."""

from __future__ import annotations

from typing import Any

import pytest

from flywheel.platforms.core.configs import read_scores
from flywheel.platforms.core.scores import ScoreError, similarity_to_unit
from flywheel.platforms.core.specs import EvaluationResults
from flywheel.platforms.nmp.wire import results as nmp_results


def score(value: Any, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if count is not None:
        out["stats"] = {"count": count, "mean": value}
    return out


def results(task: str, metrics: dict[str, dict[str, Any]]) -> EvaluationResults:
    """NMP's results answer, read as the NMP adapter reads it."""
    return nmp_results({"tasks": {task: {"metrics": {m: {"scores": s} for m, s in metrics.items()}}}})


@pytest.mark.parametrize(("judge", "expected"), [(10, 1.0), (10.0, 1.0), (1, 0.0), (5.5, 0.5), (7.3, 0.7)])
def test_similarity_maps_judge_scale_to_unit(judge: float, expected: float) -> None:
    """Reference defect §16.8: a judge's 10 must be the top score, not 1."""
    got = read_scores("generic", results("llm-as-judge", {"llm-judge": {"similarity": score(judge, 20)}}))
    assert got == {"similarity": pytest.approx(expected)}


def test_similarity_out_of_scale_or_unparsed_is_an_error() -> None:
    with pytest.raises(ScoreError, match=r"outside the 1\.\.10 scale"):
        read_scores("generic", results("llm-as-judge", {"llm-judge": {"similarity": score(11)}}))
    with pytest.raises(ScoreError, match="0 items"):
        read_scores("generic", results("llm-as-judge", {"llm-judge": {"similarity": score(0.0, 0)}}))
    assert similarity_to_unit(0.5) == 0.0  # below the scale floor clamps


def test_tool_calling_scores() -> None:
    res = results(
        "custom-tool-calling",
        {
            "tool-calling-accuracy": {
                "function_name_accuracy": score(0.9),
                "function_name_and_args_accuracy": score(0.8),
            },
            "correctness": {"rating": score(0.75)},
        },
    )
    assert read_scores("tool_calling", res) == {
        "function_name_accuracy": 0.9,
        "function_name_and_args_accuracy": 0.8,
        "correctness": 0.75,
    }
    res = results(
        "custom-tool-calling",
        {
            "tool-calling-accuracy": {
                "function_name_accuracy": score(0.9),
                "function_name_and_args_accuracy": score(0.8),
            }
        },
    )
    assert set(read_scores("tool_calling", res)) == {"function_name_accuracy", "function_name_and_args_accuracy"}


def test_classification_scores_accept_platform_names() -> None:
    both = results("classification", {"f1": {"f1": score(0.6), "accuracy": score(0.7)}})
    assert read_scores("classification", both) == {"f1": 0.6, "accuracy": 0.7}
    assert read_scores("classification", results("chat-completion", {"f1": {"f1_score": score(0.4)}})) == {"f1": 0.4}


def test_missing_pieces_give_clear_errors() -> None:
    with pytest.raises(ScoreError, match="no 'tasks'"):
        nmp_results({})
    with pytest.raises(ScoreError, match=r"no 'tool-calling-accuracy' metric .*found: llm-judge"):
        read_scores("tool_calling", results("chat-completion", {"llm-judge": {"similarity": score(5)}}))
    with pytest.raises(ScoreError, match="results are of a generic evaluation, not tool_calling"):
        read_scores("tool_calling", results("llm-as-judge", {"llm-judge": {"similarity": score(5)}}))
    with pytest.raises(ScoreError, match="no score function_name_and_args_accuracy"):
        read_scores(
            "tool_calling",
            results("custom-tool-calling", {"tool-calling-accuracy": {"function_name_accuracy": score(0.9)}}),
        )
    with pytest.raises(ScoreError, match="not a finite number"):
        read_scores("classification", results("classification", {"f1": {"f1": score(None)}}))
    with pytest.raises(ScoreError, match="outside"):
        read_scores("classification", results("classification", {"f1": {"f1": score(1.5)}}))
    with pytest.raises(ScoreError, match="unknown workload type"):
        read_scores("rag", results("x", {}))
