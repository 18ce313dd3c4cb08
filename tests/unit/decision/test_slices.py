"""Slices: per tool / class scores of the candidate next to the best candidate's and production's on the same
rows, the flags, the reason clause and the max_slice_regression gate."""

from __future__ import annotations

import pytest

from flywheel.decision.rows import UNLABELLED, EvalRow
from flywheel.decision.slices import slice_notes, slice_table, slice_withhold

METRIC = "function_name_and_args_accuracy"


def _rows(scores: dict[str, list[float]], extra: dict[str, float] | None = None) -> list[EvalRow]:
    """Rows ``<slice>-<i>`` with the given per-row values (ids shared across experiments)."""
    return [
        EvalRow(row_id=f"{label}-{i}", slice=label, metrics={METRIC: v, **(extra or {})})
        for label, values in scores.items()
        for i, v in enumerate(values)
    ]


CANDIDATE = _rows({"ToOrderStatus": [1.0] * 10, "ToReturnProcessing": [1.0] * 5 + [0.0] * 5})
PRODUCTION = _rows({"ToOrderStatus": [1.0] * 10, "ToReturnProcessing": [1.0] * 10})
BEST = _rows({"ToOrderStatus": [1.0] * 9 + [0.0], "ToReturnProcessing": [1.0] * 6 + [0.0] * 4})


def test_table_scores_each_slice_against_both_references() -> None:
    table = slice_table(CANDIDATE, METRIC, min_quality=0.8, best=BEST, production=PRODUCTION)
    assert [s.slice for s in table] == ["ToOrderStatus", "ToReturnProcessing"]
    order, ret = table
    assert (order.rows, order.candidate, order.best, order.production) == (10, 1.0, 0.9, 1.0)
    assert (ret.rows, ret.candidate, ret.best, ret.production) == (10, 0.5, 0.6, 1.0)
    assert not order.below_bar and ret.below_bar
    # 5 of 10 paired differences are -1 against production: P(a resample draws none) = 2^-10 < 2.5 %
    assert ret.worse_than_production and not order.worse_than_production
    assert not ret.worse_than_best  # -0.1 on 10 rows is within noise
    assert ret.reference == "production" and ret.regression == pytest.approx(0.5)
    assert order.regression == 0.0


def test_without_production_the_best_candidate_is_the_reference() -> None:
    table = slice_table(CANDIDATE, METRIC, min_quality=0.8, best=BEST)
    assert all(s.production is None and s.reference == "best" for s in table)
    assert table[1].regression == pytest.approx(0.1)
    bare = slice_table(CANDIDATE, METRIC, min_quality=0.8)
    assert all(s.reference is None and s.regression is None and not s.worse_than_best for s in bare)


def test_references_are_compared_on_the_candidates_rows_only() -> None:
    prod = [*PRODUCTION, EvalRow(row_id="other", slice="X", metrics={METRIC: 0.0})]
    table = slice_table(CANDIDATE, METRIC, min_quality=0.5, production=prod)
    assert [s.slice for s in table] == ["ToOrderStatus", "ToReturnProcessing"]  # production's extra row: no slice


def test_rows_without_the_metric_or_a_slice() -> None:
    rows = [
        EvalRow(row_id="1", slice=None, metrics={METRIC: 1.0}),
        EvalRow(row_id="2", slice="", metrics={METRIC: 0.0}),
        EvalRow(row_id="3", slice="A", metrics={"other": 1.0}),  # not scored on the metric: left out
    ]
    table = slice_table(rows, METRIC, min_quality=0.9)
    assert [(s.slice, s.rows, s.candidate) for s in table] == [(UNLABELLED, 2, 0.5)]


def test_notes_name_flagged_slices() -> None:
    table = slice_table(CANDIDATE, METRIC, min_quality=0.8, best=BEST, production=PRODUCTION)
    note = slice_notes(table, 0.8)
    assert note == (
        "slices below the bar 0.8: ToReturnProcessing 0.500 (10 rows); "
        "significantly worse than production on: ToReturnProcessing 0.500 vs 1.000 (10 rows)"
    )
    assert slice_notes(slice_table(PRODUCTION, METRIC, min_quality=0.8, production=PRODUCTION), 0.8) is None


def test_max_slice_regression_withholds_with_a_reason() -> None:
    table = slice_table(CANDIDATE, METRIC, min_quality=0.8, best=BEST, production=PRODUCTION)
    assert slice_withhold(table, None) is None  # off by default
    assert slice_withhold(table, 0.6) is None
    reason = slice_withhold(table, 0.2)
    assert reason == (
        "withhold: slice regression over selection.max_slice_regression 0.2: "
        "ToReturnProcessing 0.500 below production (0.500 vs 1.000, 10 rows)"
    )


def test_seeded_table_is_reproducible() -> None:
    a = slice_table(CANDIDATE, METRIC, min_quality=0.8, best=BEST, production=PRODUCTION, seed=4)
    b = slice_table(list(reversed(CANDIDATE)), METRIC, min_quality=0.8, best=BEST, production=PRODUCTION, seed=4)
    assert a == b
