"""The decision library: intervals, cost, volume and the recommendation rules, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from flywheel.decision import (
    gpu_hours,
    per_1m_output_tokens_usd,
    production_per_1m_output_tokens_usd,
    recommend,
    savings,
    score_interval,
    token_volume,
    wilson_interval,
)
from flywheel.decision.recommend import Bar
from flywheel.run.models import ResultEntry

M = "function_name_and_args_accuracy"


def entry(
    nim: str, exp: str, score: float | None, cost: float | None, p95: float | None = 100.0, **kw: Any
) -> ResultEntry:
    return ResultEntry.model_validate(
        {
            "nim": nim,
            "experiment": exp,
            "status": kw.get("status", "completed"),
            "scores": {} if score is None else {M: score},
            "latency": None if p95 is None else {"p50_ms": p95 / 2, "p95_ms": p95},
            "cost": None if cost is None else {"per_1m_output_tokens_usd": cost, "gpu_hours": 0.1},
            **({"per_row_scores": kw["rows"]} if "rows" in kw else {}),
        }
    )


def test_wilson_matches_known_values() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


@pytest.mark.parametrize(
    ("metric", "n", "rows", "method"),
    [
        ("accuracy", 50, None, "wilson"),
        (M, 50, None, "wilson"),
        ("f1", 50, [0.5, 1.0, 0.75], "bootstrap"),
        ("f1", 50, None, None),
        ("similarity", None, None, None),
        (M, None, None, None),
    ],
)
def test_interval_method_per_metric(metric: str, n: int | None, rows: list[float] | None, method: str | None) -> None:
    ci, how = score_interval(metric, 0.8, n, rows)
    if method is None:
        assert ci is None and how.startswith("no interval")
    else:
        assert how == method and ci is not None and ci[0] <= ci[1]


def test_cost_formulas() -> None:
    assert per_1m_output_tokens_usd(2, 3.6, 1000) == pytest.approx(2.0)  # 7.2 $/h over 3.6M tokens/h
    assert per_1m_output_tokens_usd(1, 3.0, 0) is None
    assert gpu_hours((1, 1800), (2, 900), (1, None)) == pytest.approx(1.0)
    assert production_per_1m_output_tokens_usd(1.0, 4.0, 3000, 1000) == pytest.approx(7.0)
    assert savings(7.0, 2.0, 2_000_000) == pytest.approx(10.0)


def test_volume_uses_usage_scales_to_a_month_and_skips_rejected() -> None:
    day = 86400
    recs = [
        {
            "timestamp": 0,
            "request": {"messages": []},
            "response": {"usage": {"prompt_tokens": 10, "completion_tokens": 2}},
        },
        {
            "timestamp": 2 * day,
            "request": {"messages": [{"role": "user", "content": "x" * 40}]},
            "response": {"choices": [{"message": {"role": "assistant", "content": "y" * 20}}]},
        },
        {"__rejected__": "empty_response"},
    ]
    v = token_volume(recs)
    assert (v.records, v.window_days) == (2, 2.0)
    assert v.input_tokens > 10 and v.output_tokens > 2
    assert v.output_tokens_per_month == pytest.approx(v.output_tokens * 15)
    assert token_volume(recs[:1]).window_days == 1.0  # a burst counts as at least one day


BAR = Bar(min_quality=0.7)
CASES = [
    # (name, results, bar, expected (nim, exp) or None, reason fragment)
    (
        "cheapest meeting the bar wins",
        [entry("a", "base", 0.9, 3.0), entry("b", "customized", 0.75, 1.0), entry("b", "base", 0.5, 1.0)],
        BAR,
        ("b", "customized"),
        "cheapest of 2",
    ),
    (
        "tie on cost goes to higher quality",
        [entry("b", "base", 0.72, 1.0), entry("b", "customized", 0.8, 1.0)],
        BAR,
        ("b", "customized"),
        "tied on cost",
    ),
    ("none meets the bar", [entry("a", "base", 0.6, 1.0), entry("a", "icl", 0.65, 2.0)], BAR, None, "closest: a icl"),
    (
        "latency cap excludes the cheap one",
        [entry("a", "base", 0.9, 1.0, p95=900.0), entry("b", "base", 0.8, 2.0, p95=100.0)],
        Bar(min_quality=0.7, max_p95_ms=500.0),
        ("b", "base"),
        "p95 ≤ 500 ms",
    ),
    (
        "missing latency cannot pass a cap",
        [entry("a", "base", 0.9, None, p95=None)],
        Bar(min_quality=0.7, max_p95_ms=500.0),
        None,
        "latency not measured",
    ),
    (
        "missing latency without a cap ranks last",
        [entry("a", "base", 0.95, None, p95=None), entry("b", "base", 0.71, 5.0)],
        BAR,
        ("b", "base"),
        "cheapest",
    ),
    (
        "a failed experiment is never chosen",
        [entry("a", "customized", 0.99, 0.1, status="failed"), entry("a", "base", 0.8, 1.0)],
        BAR,
        ("a", "base"),
        "cheapest of 1",
    ),
    (
        "a skipped experiment is never chosen",
        [entry("a", "customized", None, None, status="skipped"), entry("a", "icl", 0.8, 2.0)],
        BAR,
        ("a", "icl"),
        "cheapest of 1",
    ),
    ("nothing completed", [entry("a", "base", None, None, status="failed")], BAR, None, "no completed experiment"),
]


@pytest.mark.parametrize(("name", "results", "bar", "expected", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_recommendation_rules(name: str, results: list[ResultEntry], bar: Bar, expected: Any, fragment: str) -> None:
    rec, note = recommend(results, "tool_calling", bar, 100, 10.0, 1_000_000)
    if expected is None:
        assert rec is None
        assert fragment in note.reason
    else:
        assert rec is not None and (rec.nim, rec.experiment) == expected
        assert fragment in rec.reason
        assert rec.min_quality == bar.min_quality and rec.max_p95_ms == bar.max_p95_ms


def test_interval_straddling_the_bar_is_said() -> None:
    rec, _ = recommend([entry("a", "base", 0.72, 1.0)], "tool_calling", BAR, 50, None, None)
    assert rec is not None and rec.ci[0] < 0.7 < rec.ci[1]
    assert "straddles the bar" in rec.reason
    assert rec.savings_per_month_usd is None  # no production price: no savings figure


def test_missing_interval_is_said() -> None:
    results = [entry("a", "base", None, 1.0).model_copy(update={"scores": {"f1": 0.9}})]
    rec, _ = recommend(results, "classification", BAR, 50, 2.0, 1e6)
    assert rec is not None and rec.ci is None and "no interval" in rec.reason
    assert rec.savings_per_month_usd == pytest.approx(1.0)


def test_every_number_recomputes_from_the_entries() -> None:
    results = [entry("a", "base", 0.9, 3.0), entry("b", "customized", 0.76, 1.25, p95=80.0)]
    n, prod, monthly = 50, 4.5, 3_000_000.0
    rec, _ = recommend(results, "tool_calling", Bar(min_quality=0.7, max_p95_ms=200.0), n, prod, monthly)
    assert rec is not None
    e = results[1]
    assert rec.score == e.scores[M]
    assert rec.ci is not None and list(rec.ci) == [round(x, 4) for x in wilson_interval(round(e.scores[M] * n), n)]
    assert rec.p95_ms == e.p95_ms
    assert rec.per_1m_output_tokens_usd == e.per_1m_output_tokens_usd
    assert rec.savings_per_month_usd == round((prod - 1.25) * monthly / 1e6, 2)
