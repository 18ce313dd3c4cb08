"""assess(): the report's paired, slices and judge parts in one call, and what withholds a recommendation."""

from __future__ import annotations

from flywheel.decision.judge_checks import JudgeCheck, ProbeResult, check_judge
from flywheel.decision.rows import EvalRow
from flywheel.decision.trust import ROW_METRIC, Experiment, assess

METRIC = ROW_METRIC["tool_calling"]


def _exp(name: str, right: dict[str, int], n: int = 40) -> Experiment:
    """``right[slice]`` of the ``n`` rows of each slice answered right."""
    rows = [
        EvalRow(row_id=f"{s}-{i}", slice=s, metrics={METRIC: float(i < k)}) for s, k in right.items() for i in range(n)
    ]
    return Experiment(name, rows)


CAND = _exp("1b customized", {"Order": 40, "Return": 20})
BEST = _exp("3b customized", {"Order": 40, "Return": 38})
PROD = _exp("production", {"Order": 40, "Return": 40})


def _judge(passed: int, total: int) -> JudgeCheck:
    results = [
        ProbeResult(kind="identical", row_id=str(i), expect_high=True, score=1.0, passed=i < passed)
        for i in range(total)
    ]
    return check_judge("j", results, min_agreement=0.8)


def test_assessment_pairs_slices_and_notes() -> None:
    got = assess(CAND, METRIC, min_quality=0.6, margin=0.05, best=BEST, production=PROD, seed=1)
    assert [(p.reference, p.rows) for p in got.paired] == [("3b customized", 80), ("production", 80)]
    assert all(p.verdict == "inferior" for p in got.paired)  # -0.225 / -0.25 with 80 rows
    assert [s.slice for s in got.slices] == ["Order", "Return"] and got.slices[1].below_bar
    assert got.notes[0].startswith(f"{METRIC} vs 3b customized: -0.225 [")
    assert "significantly worse than production on: Return 0.500 vs 1.000 (40 rows)" in got.notes[-1]
    assert got.withhold is None and got.judge is None


def test_the_candidate_is_not_paired_with_itself_and_missing_references_are_skipped() -> None:
    got = assess(BEST, METRIC, min_quality=0.6, margin=0.05, best=BEST)
    assert got.paired == [] and all(s.reference is None for s in got.slices)


def test_a_failed_judge_withholds_first_then_slices() -> None:
    failed = _judge(10, 20)
    got = assess(CAND, METRIC, 0.6, 0.05, max_slice_regression=0.2, production=PROD, judge=failed)
    assert got.withhold == failed.reason and got.withhold.startswith("withhold: judge j failed its probes (10/20")
    sliced = assess(CAND, METRIC, 0.6, 0.05, max_slice_regression=0.2, production=PROD, judge=_judge(20, 20))
    assert sliced.withhold is not None and sliced.withhold.startswith("withhold: slice regression")
    kept = assess(CAND, METRIC, 0.6, 0.05, max_slice_regression=0.6, production=PROD, judge=_judge(20, 20))
    assert kept.withhold is None and kept.judge is not None and kept.judge.trusted


def test_assessment_is_json_for_the_report() -> None:
    got = assess(CAND, METRIC, 0.6, 0.05, best=BEST, production=PROD, judge=_judge(20, 20), seed=3)
    dumped = got.model_dump(mode="json")
    assert set(dumped) == {"metric", "paired", "slices", "judge", "notes", "withhold"}
    assert type(got).model_validate(dumped) == got
