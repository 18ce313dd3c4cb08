"""Paired statistics: bootstrap intervals from rows, the paired difference, the non-inferiority verdict and the
rows an open verdict still needs — against hand-computed answers."""

from __future__ import annotations

import math
import random

import pytest

from flywheel.decision.paired import (
    Z95,
    bootstrap_mean,
    paired_difference,
    rows_to_settle,
    verdict,
)
from flywheel.decision.rows import EvalRow, dump_jsonl, load_jsonl, metric_values


def test_hand_computed_paired_case() -> None:
    """Differences on the 4 shared rows are [0, +1, 0, 0]: mean 0.25, sample SD 0.5; row e is unpaired.
    A resample of 4 rows has mean k/4; P(no +1 drawn) = (3/4)^4 = 0.32 > 2.5 %, so the lower bound is 0,
    which is above -0.05: non-inferior."""
    cand = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 1.0}
    ref = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 1.0, "e": 1.0}
    got = paired_difference(cand, ref, metric="acc", margin=0.05, candidate_name="1b", reference_name="prod")
    assert (got.rows, got.unpaired) == (4, 1)
    assert got.candidate_mean == 0.75 and got.reference_mean == 0.5
    assert got.difference == 0.25 and math.isclose(got.difference_sd, 0.5)
    assert got.ci[0] == 0.0 and got.ci[1] in (0.5, 0.75)
    assert got.verdict == "non_inferior" and got.more_rows is None
    assert "non-inferior at margin 0.05" in got.describe() and "vs prod" in got.describe()


def test_identical_experiments_differ_by_exactly_zero() -> None:
    values = {str(i): float(i % 3 == 0) for i in range(50)}
    got = paired_difference(values, values, metric="acc", margin=0.0)
    assert got.ci == (0.0, 0.0) and got.difference == 0.0 and got.difference_sd == 0.0
    # lower bound 0 is not above -0 (margin 0): the verdict stays open and no number of rows settles it
    assert got.verdict == "open" and got.more_rows is None
    assert "cannot settle" in got.describe()


@pytest.mark.parametrize(
    ("ci", "margin", "expected"),
    [
        ((-0.02, 0.03), 0.05, "non_inferior"),
        ((-0.20, -0.10), 0.05, "inferior"),
        ((-0.10, 0.02), 0.05, "open"),
        ((-0.05, 0.00), 0.05, "open"),  # the bound on the margin is not above it
    ],
)
def test_verdict_is_one_sided_at_the_margin(ci: tuple[float, float], margin: float, expected: str) -> None:
    assert verdict(ci, margin) == expected


def test_rows_to_settle_formula() -> None:
    # N = ceil((1.96 * 0.5 / |-0.05 + 0.1|)^2) = ceil(384.15) = 385, 100 rows observed -> 285 more
    assert rows_to_settle(-0.05, 0.5, 100, 0.1) == math.ceil((Z95 * 0.5 / 0.05) ** 2) - 100 == 285
    assert rows_to_settle(-0.1, 0.5, 100, 0.1) is None  # the difference sits on the margin
    assert rows_to_settle(0.0, 0.0, 100, 0.1) is None
    assert rows_to_settle(0.2, 0.5, 10_000, 0.1) == 1  # at least one


def test_open_verdict_reports_rows_that_settle_it_and_they_do() -> None:
    """An open verdict on 100 rows; the same per-row pattern repeated up to the reported size (so the mean
    difference and its SD persist, as the estimate assumes) settles it."""
    rng = random.Random(3)
    cand, ref = {}, {}
    for i in range(100):
        ref[str(i)] = float(rng.random() < 0.90)
        cand[str(i)] = float(rng.random() < 0.86)
    small = paired_difference(cand, ref, metric="acc", margin=0.05, seed=1)
    assert small.verdict == "open" and small.more_rows is not None and small.more_rows > 0
    copies = math.ceil((100 + small.more_rows) / 100)
    big_c = {f"{k}-{c}": v for c in range(copies) for k, v in cand.items()}
    big_r = {f"{k}-{c}": v for c in range(copies) for k, v in ref.items()}
    big = paired_difference(big_c, big_r, metric="acc", margin=0.05, seed=1)
    assert math.isclose(big.difference, small.difference) and big.verdict != "open"
    assert f"about {small.more_rows} more eval rows would settle it" in small.describe()


def test_seeded_and_reproducible() -> None:
    rng = random.Random(0)
    cand = {str(i): rng.random() for i in range(200)}
    ref = {str(i): rng.random() for i in range(200)}
    a = paired_difference(cand, ref, metric="m", margin=0.1, seed=11)
    b = paired_difference(dict(reversed(cand.items())), ref, metric="m", margin=0.1, seed=11)
    c = paired_difference(cand, ref, metric="m", margin=0.1, seed=12)
    assert a == b  # row order does not matter: pairs are by row id
    assert a.ci != c.ci
    assert bootstrap_mean(list(cand.values()), seed=5) == bootstrap_mean(list(cand.values()), seed=5)


def test_pairing_is_narrower_than_independent_intervals_on_correlated_rows() -> None:
    """Hard rows are hard for both: the paired interval of the difference is much narrower than what two
    independent intervals imply (the reason to pair at all)."""
    rng = random.Random(1)
    hard = [rng.random() < 0.3 for _ in range(300)]
    ref = {str(i): 0.0 if h else 1.0 for i, h in enumerate(hard)}
    cand = {str(i): 0.0 if h or rng.random() < 0.03 else 1.0 for i, h in enumerate(hard)}
    paired = paired_difference(cand, ref, metric="acc", margin=0.05)
    ci_c, ci_r = bootstrap_mean(list(cand.values())), bootstrap_mean(list(ref.values()))
    independent_half = math.hypot((ci_c.hi - ci_c.lo) / 2, (ci_r.hi - ci_r.lo) / 2)
    assert (paired.ci[1] - paired.ci[0]) / 2 < independent_half / 2
    assert paired.verdict == "non_inferior"


def test_bootstrap_interval_contains_the_mean_and_is_within_the_values() -> None:
    values = [0.0] * 30 + [1.0] * 70
    got = bootstrap_mean(values, resamples=4000, seed=2)
    assert got.mean == 0.7 and got.rows == 100 and got.resamples == 4000 and got.seed == 2
    assert 0.58 < got.lo < 0.7 < got.hi < 0.8  # ~ ±1.96·sqrt(0.21/100) = ±0.09


def test_large_eval_sets_are_bootstrapped_in_blocks() -> None:
    values = [float(i % 2) for i in range(5000)]
    got = bootstrap_mean(values, resamples=1000)
    assert got.lo < 0.5 < got.hi and got.hi - got.lo < 0.04


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="share no eval row"):
        paired_difference({"a": 1.0}, {"b": 1.0}, metric="m", margin=0.1, candidate_name="x", reference_name="y")
    with pytest.raises(ValueError, match="margin must be ≥ 0"):
        paired_difference({"a": 1.0}, {"a": 1.0}, metric="m", margin=-0.1)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_mean([1.0], resamples=0)
    with pytest.raises(ValueError, match="no rows"):
        bootstrap_mean([])


def test_figures_recompute_from_the_rows_artifact() -> None:
    """The rows artifact (JSON lines) round-trips, and the paired figures computed from it are the same."""
    cand = [EvalRow(row_id=str(i), slice="A" if i % 2 else "B", metrics={"acc": float(i % 3 != 0)}) for i in range(40)]
    ref = [EvalRow(row_id=str(i), metrics={"acc": float(i % 4 != 0)}, judge_raw=None) for i in range(40)]
    again_c, again_r = load_jsonl(dump_jsonl(cand)), load_jsonl(dump_jsonl(ref))
    assert again_c == cand and again_r == ref
    first = paired_difference(metric_values(cand, "acc"), metric_values(ref, "acc"), metric="acc", margin=0.05)
    second = paired_difference(metric_values(again_c, "acc"), metric_values(again_r, "acc"), metric="acc", margin=0.05)
    assert first == second


def test_rows_artifact_errors_name_line_and_field() -> None:
    with pytest.raises(ValueError, match=r"rows line 2: metrics\.acc"):
        load_jsonl('{"row_id": "a", "metrics": {"acc": 1}}\n{"row_id": "b", "metrics": {"acc": "x"}}\n')
    with pytest.raises(ValueError, match="rows line 1: row_id"):
        load_jsonl('{"row_id": "", "metrics": {}}')
    with pytest.raises(ValueError, match="appears twice"):
        metric_values([EvalRow(row_id="a"), EvalRow(row_id="a")], "acc")
