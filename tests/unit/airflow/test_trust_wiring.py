"""The wiring of issue 24: platform rows onto the rows artifact, the judge's probes rendered with the
evaluation's own prompts and parsers, and the report's assessment (paired, slices, judge; withholding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.airflow.judge_check import ProbeRun, eval_items, judge_messages, parse_score
from flywheel.airflow.rows_store import read_rows, write_rows
from flywheel.airflow.trust_report import RunRows, assess_run, load_rows, with_row_scores
from flywheel.config import SelectionConfig, load_config
from flywheel.decision.judge_checks import JudgeFn, ProbeItem, build_probes, check_judge, run_probes
from flywheel.decision.paired import bootstrap_mean
from flywheel.decision.rows import EvalRow
from flywheel.emulator.nim_logic import judge_chat_reply  # the emulator's judge: real ratings, or the broken one
from flywheel.platforms.core.specs import EvalRow as PlatformRow
from flywheel.run.models import Bar, DecisionFields, Recommendation, RecommendationNote, Report, ResultEntry
from flywheel.run.rows import decision_row
from flywheel.sampledata.generator import generate

ROOT = Path(__file__).resolve().parents[3]
JUDGE = "meta/llama-3.3-70b-instruct"


def test_platform_rows_map_onto_the_report_scale() -> None:
    row = decision_row(
        PlatformRow(
            row_id="3",
            slice=None,
            scores={"llm-judge.similarity": 10.0, "correctness.rating": None, "unknown.x": 0.5},
            judge_answer="10",
        )
    )
    assert row == EvalRow(row_id="3", slice=None, metrics={"similarity": 1.0}, judge_raw="10")
    tool = decision_row(
        PlatformRow(
            row_id="0",
            slice="get_order",
            scores={
                "tool-calling-accuracy.function_name_and_args_accuracy": 0.0,
                "correctness.rating": 1.0,
                "llm-judge.similarity": 4.0,
            },
        )
    )
    assert tool.metrics == {"function_name_and_args_accuracy": 0.0, "correctness": 1.0, "similarity": 1 / 3}


def test_rows_artifact_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_ARTIFACTS", str(tmp_path))
    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    rows = [EvalRow(row_id=str(i), slice="a", metrics={"similarity": i / 10}) for i in range(5)]
    url = write_rows(cfg, "flywheel_x", "run/1", "meta/llama-3.2-1b-instruct", "base", rows)
    assert url.startswith(str(tmp_path)) and url.endswith("/rows.jsonl")
    assert read_rows(url) == rows
    entry = ResultEntry(nim="n", experiment="base", status="completed", rows_url=url)
    assert load_rows([entry]).rows[("n", "base")] == rows
    with pytest.raises(ValueError, match=r"rows_url .*: no such file"):
        read_rows(f"{tmp_path}/missing/rows.jsonl")


def test_an_entry_without_rows_dumps_as_before() -> None:
    old: dict[str, object] = {
        "nim": "n",
        "experiment": "base",
        "status": "completed",
        "scores": {},
        "error": None,
        "job_id": None,
    }
    entry = ResultEntry.model_validate({**old, "duration_s": 1.0})
    assert "rows_url" not in entry.to_json()
    report = Report(results=[entry])
    assert not {"paired", "slices", "judge"} & set(report.to_json())


def _support_items(tmp_path: Path) -> list[ProbeItem]:
    from flywheel.run.models import Built

    eval_file = tmp_path / "eval.jsonl"
    lines = [json.dumps(r) for r in generate("support", 30, seed=4, bad_fraction=0, duplicate_fraction=0)]
    eval_file.write_text("\n".join(lines) + "\n")
    built = Built(workload_type="generic", uri=str(tmp_path), files={"eval": "eval.jsonl"}, counts={"eval": 30})
    return eval_items(built)


def _emulated(always_top: bool) -> JudgeFn:
    return lambda p: parse_score("generic", judge_chat_reply(judge_messages("generic", p), always_top=always_top))


def test_probes_pass_the_emulators_judge_and_catch_one_that_always_answers_top(tmp_path: Path) -> None:
    probes = build_probes(_support_items(tmp_path), seed=4)
    assert {p.kind for p in probes} >= {"identical", "other_answer", "position_swap"}
    good = check_judge(JUDGE, run_probes(probes, _emulated(False)), 0.8)
    assert good.trusted and good.probe_accuracy is not None and good.probe_accuracy >= 0.8, good
    broken = check_judge(JUDGE, run_probes(probes, _emulated(True)), 0.8)
    assert not broken.trusted and broken.reason is not None
    assert broken.reason.startswith(f"withhold: judge {JUDGE} failed its probes")


def test_parse_score_reads_as_the_evaluation_parsers_do() -> None:
    assert parse_score("generic", "10") == 1.0 and parse_score("generic", "Score: 1") == 0.0
    assert parse_score("generic", "none") is None
    assert parse_score("tool_calling", "RATING: 1\nEXPLANATION: ok") == 1.0


# ------------------------------------------------------------------------------------------ assess_run
def _rows(right: int, n: int = 40) -> list[EvalRow]:
    return [
        EvalRow(row_id=str(i), slice="a" if i % 2 else "b", metrics={"similarity": float(i < right)}) for i in range(n)
    ]


def _decision() -> DecisionFields:
    rec = Recommendation(
        nim="small", experiment="icl", primary_metric="similarity", score=0.9, min_quality=0.5, reason="cheapest"
    )
    return DecisionFields(
        bar=Bar(min_quality=0.5), recommendation=rec, recommendation_note=RecommendationNote(reason="cheapest")
    )


ENTRIES = [
    ResultEntry(nim="small", experiment="icl", status="completed", scores={"similarity": 0.9}),
    ResultEntry(nim="small", experiment="base", status="completed", scores={"similarity": 0.95}),
]
FOUND = RunRows(rows={("small", "icl"): _rows(36), ("small", "base"): _rows(38)})


def _probe_run(passed: int, total: int = 10) -> dict[str, object]:
    from flywheel.decision.judge_checks import ProbeResult

    results = [
        ProbeResult(kind="identical", row_id=str(i), expect_high=True, score=1.0, passed=i < passed)
        for i in range(total)
    ]
    check = check_judge(JUDGE, results, 0.8)
    run = ProbeRun(judge=JUDGE, judge_metric="similarity", exact_metric=None, results=results, check=check)
    return run.model_dump(mode="json")


def test_a_trusted_judge_keeps_the_recommendation_with_paired_and_slice_clauses() -> None:
    got = assess_run(ENTRIES, _decision(), FOUND, "generic", SelectionConfig(), _probe_run(10), JUDGE)
    rec = got.decision.recommendation
    assert rec is not None and rec.reason.startswith("cheapest; similarity vs small base: -0.050 [")
    assert got.paired is not None and got.paired[0]["reference"] == "small base" and got.paired[0]["rows"] == 40
    assert got.slices is not None and [s["slice"] for s in got.slices] == ["a", "b"]
    assert got.judge is not None and got.judge["trusted"] is True


def test_a_judge_failing_its_probes_withholds_with_its_reason() -> None:
    got = assess_run(ENTRIES, _decision(), FOUND, "generic", SelectionConfig(), _probe_run(5), JUDGE)
    assert got.decision.recommendation is None
    note = got.decision.recommendation_note
    assert note is not None and note.reason.startswith(f"withhold: judge {JUDGE} failed its probes (5/10;")
    assert got.paired is not None  # the figures stay in the report


def test_a_judge_scored_run_without_probes_is_withheld() -> None:
    got = assess_run(ENTRIES, _decision(), FOUND, "generic", SelectionConfig(), None, JUDGE)
    assert got.decision.recommendation is None
    note = got.decision.recommendation_note
    assert note is not None and "judge meta/llama-3.3-70b-instruct was not checked" in note.reason


def test_a_slice_regression_over_the_limit_withholds() -> None:
    selection = SelectionConfig(max_slice_regression=0.05)
    rows = dict(FOUND.rows)
    rows[("small", "icl")] = [
        r if r.slice == "b" else r.model_copy(update={"metrics": {"similarity": 0.0}}) for r in _rows(38)
    ]
    got = assess_run(ENTRIES, _decision(), RunRows(rows=rows), "generic", selection, _probe_run(10), JUDGE)
    note = got.decision.recommendation_note
    assert got.decision.recommendation is None and note is not None
    assert note.reason.startswith("withhold: slice regression over selection.max_slice_regression 0.05: a ")


def test_missing_rows_are_said_in_the_reason() -> None:
    found = RunRows(missing=["small icl: no per-row results"])
    got = assess_run(ENTRIES, _decision(), found, "generic", SelectionConfig(), _probe_run(10), JUDGE)
    rec = got.decision.recommendation
    assert rec is not None and "no paired comparisons or slices: small icl: no per-row results" in rec.reason
    assert got.paired is None and got.judge is not None


def test_intervals_come_from_the_rows() -> None:
    scored = with_row_scores(ENTRIES, FOUND, "generic")
    assert scored[0].per_row_scores == [float(i < 36) for i in range(40)]
    from flywheel.decision.intervals import score_interval

    ci, how = score_interval("similarity", 0.9, 40, scored[0].per_row_scores)
    expected = bootstrap_mean([float(i < 36) for i in range(40)])
    assert how == "bootstrap" and ci == (round(expected.lo, 4), round(expected.hi, 4))
    assert with_row_scores(ENTRIES, FOUND, "classification")[0].per_row_scores is None


def test_the_report_keeps_an_entrys_rows_url_and_nothing_else_new() -> None:
    from flywheel.airflow.results import normalise
    from flywheel.run.models import NimPlan

    plan = NimPlan(model_name="n", customize=False, icl=False)
    stored = ResultEntry(nim="n", experiment="base", status="completed", rows_url="/a/rows.jsonl", job_id="j")
    out = normalise([plan], {("n", "base"): stored}, {})
    assert out[0].to_json()["rows_url"] == "/a/rows.jsonl"
    assert "rows_url" not in out[1].to_json()  # the skipped icl entry


def test_production_as_a_reference_experiment() -> None:
    from flywheel.airflow.trust_report import production_rows

    prod = _rows(40)
    got = assess_run(ENTRIES, _decision(), FOUND, "generic", SelectionConfig(), _probe_run(10), JUDGE, prod)
    assert got.paired is not None and [p["reference"] for p in got.paired] == ["small base", "production"]
    assert got.paired[1]["reference_mean"] == 1.0 and got.paired[1]["rows"] == 40
    assert got.slices is not None and all(s["production"] == 1.0 and s["reference"] == "production" for s in got.slices)
    rec = got.decision.recommendation
    assert rec is not None and "similarity vs production: -0.100 [" in rec.reason
    skipped = ResultEntry(nim="prod", experiment="production", status="skipped")
    assert production_rows(skipped) is None and production_rows(None) is None
