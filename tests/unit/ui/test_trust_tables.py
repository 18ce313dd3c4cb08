"""The page's trust tables: paired verdicts, slices and the judge's check, each cell from one report value."""

from __future__ import annotations

from typing import Any

from flywheel.decision.judge_checks import ProbeResult, check_judge
from flywheel.decision.paired import paired_difference
from flywheel.run.models import Report
from flywheel.ui.render import render_page
from flywheel.ui.view import RunReport, trust_tables, workload_view

from .reports import SMALL, decided_report

PAYLOAD = '<img src=x onerror="alert(1)">'


def trusted_report(judge_ok: bool = True) -> dict[str, Any]:
    report = decided_report()
    cand = {str(i): float(i % 5 != 0) for i in range(40)}
    ref = {str(i): float(i % 7 != 0) for i in range(40)}
    pair = paired_difference(cand, ref, metric="m", margin=0.05, candidate_name=PAYLOAD, reference_name="3b icl")
    results = [
        ProbeResult(kind="identical", row_id=str(i), expect_high=True, score=1.0, passed=judge_ok or i < 2)
        for i in range(10)
    ]
    judge = check_judge(PAYLOAD, results, 0.8)
    report["paired"] = [pair.model_dump(mode="json")]
    report["slices"] = [
        {
            "slice": PAYLOAD,
            "rows": 12,
            "candidate": 0.5,
            "best": 0.75,
            "production": None,
            "below_bar": True,
            "worse_than_best": False,
            "worse_than_production": False,
            "regression": 0.25,
            "reference": "best",
        }
    ]
    report["judge"] = judge.model_dump(mode="json")
    if not judge_ok:
        report["recommendation"] = None
        report["recommendation_note"] = {"reason": f"{judge.reason}; otherwise: {SMALL} customized ..."}
    return report


def test_tables_carry_the_report_values() -> None:
    report = Report.model_validate(trusted_report())
    paired, slices, judge = trust_tables(report)
    assert report.paired is not None and report.slices is not None
    by = {c.column: c for c in paired[0]}
    assert by["difference"].value == report.paired[0]["difference"] and by["verdict"].path == "paired.0.verdict"
    assert by["95% interval"].text.startswith("[")
    assert {c.column: c.text for c in slices[0]}["below the bar"] == "yes"
    assert {c.column: c.text for c in judge}["probes passed"] == "10"


def test_page_shows_escaped_trust_tables_and_a_withheld_recommendation() -> None:
    view = workload_view(
        "w", "flywheel_w", [RunReport("flywheel_w", "r1", Report.model_validate(trusted_report(False)))]
    )
    assert view.recommendation_text.startswith(f"withheld: judge {PAYLOAD} failed its probes (2/10;")
    page = render_page([view], page_href="/flywheel/")
    for testid in ("judge-table", "paired-table", "slice-table", "judge-reason"):
        assert f'data-testid="{testid}"' in page
    assert PAYLOAD not in page and "&lt;img src=x onerror=" in page
    assert render_page([view], inline=True).count("<script") == 3  # no script of ours beyond the page's own


def test_a_report_without_trust_figures_has_no_trust_tables() -> None:
    page = render_page(
        [workload_view("w", "flywheel_w", [RunReport("flywheel_w", "r1", Report.model_validate(decided_report()))])]
    )
    assert "paired-table" not in page and "judge-table" not in page
