"""The page's view model and HTML from report dicts (today's shape and the decision's, docs/contracts.md#results)."""

from __future__ import annotations

import json
import re
from typing import Any

from flywheel.ui.render import render_page
from flywheel.ui.view import NOT_MEASURED, RunReport, fmt, pareto_front, workload_view

from .reports import LARGE, SMALL, decided_report, plain_report

DAG = "flywheel_customer_service"


def resolve(report: dict[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else (node or {}).get(part)
    return node


def view_of(*reports: dict[str, Any]) -> Any:
    runs = [RunReport(DAG, f"run-{i}", r, f"2026-01-0{i + 1}T00:00:00+00:00", "success") for i, r in enumerate(reports)]
    return workload_view("customer_service", DAG, runs)


def test_one_point_per_completed_experiment_and_the_recommended_one_marked() -> None:
    report = decided_report()
    v = view_of(report)
    completed = [r for r in report["results"] if r["status"] == "completed"]
    assert [(p["nim"], p["experiment"]) for p in v.points] == [(r["nim"], r["experiment"]) for r in completed]
    for p in v.points:
        entry = report["results"][p["index"]]
        assert p["score"] == entry["scores"]["function_name_and_args_accuracy"]
        assert p["cost"] == entry["cost"]["per_1m_output_tokens_usd"]
    marked = [(p["nim"], p["experiment"]) for p in v.points if p["recommended"]]
    assert marked == [(report["recommendation"]["nim"], report["recommendation"]["experiment"])]
    assert v.bar == report["recommendation"]["min_quality"]
    assert v.chart_data()["production"] == report["production"]


def test_pareto_front_is_exactly_the_non_dominated_points() -> None:
    points = view_of(decided_report()).points
    front = pareto_front(points)

    def dominated(p: dict[str, Any]) -> bool:
        return any(
            q is not p
            and q["cost"] <= p["cost"]
            and q["score"] >= p["score"]
            and (q["cost"], q["score"]) != (p["cost"], p["score"])
            for q in points
        )

    assert {id(p) for p in front} == {id(p) for p in points if not dominated(p)}
    assert [p["cost"] for p in front] == sorted(p["cost"] for p in front)
    assert len(front) >= 2  # the fixture has a real trade-off


def test_points_without_cost_are_drawn_but_not_on_the_front() -> None:
    v = view_of(plain_report())
    assert len(v.points) == 3 and all(p["cost"] is None for p in v.points)
    assert v.pareto == [] and v.bar is None


def test_every_table_cell_shows_the_report_value_it_names() -> None:
    for report in (decided_report(), plain_report()):
        v = view_of(report)
        assert len(v.rows) == len(report["results"])
        checked = 0
        for row in v.rows:
            for cell in row:
                if cell.path is None:
                    continue
                assert cell.value == resolve(report, cell.path), cell
                checked += 1
        assert checked == len(report["results"]) * 11


def test_missing_decision_fields_read_not_measured_or_none() -> None:
    v = view_of(plain_report())
    texts = {c.column: c.text for c in v.rows[0]}
    assert texts["p95"] == NOT_MEASURED and texts["$ / 1M output tokens"] == NOT_MEASURED
    assert texts["function_name_and_args_accuracy"] == fmt(0.5, "score")
    assert v.recommendation_text.startswith("none: this run has no decision")
    nobody = {
        **decided_report(),
        "recommendation": None,
        "recommendation_note": {"reason": "no candidate reaches 0.95", "closest": None},
    }
    assert view_of(nobody).recommendation_text == "none meets the bar: no candidate reaches 0.95"
    assert view_of(nobody).approval_href is None


def test_recommendation_text_and_approval_link() -> None:
    report = decided_report()
    v = view_of(report)
    rec = report["recommendation"]
    for part in (rec["nim"], "customized", fmt(rec["score"], "score"), fmt(rec["ci"], "ci"), rec["reason"]):
        assert part in v.recommendation_text
    assert v.approval_href == f"/dags/{DAG}/runs/run-0/tasks/approve_promotion/required_actions"


def test_history_has_one_point_per_run_per_candidate() -> None:
    reports = [plain_report(0.0), plain_report(0.1), plain_report(0.2)]
    v = view_of(*reports)
    series = {s["name"]: s for s in v.history}
    assert set(series) == {f"{SMALL} / base", f"{SMALL} / icl", f"{LARGE} / base"}
    for s in series.values():
        assert [p["run_id"] for p in s["points"]] == ["run-0", "run-1", "run-2"]
    assert [p["score"] for p in series[f"{SMALL} / base"]["points"]] == [
        r["results"][0]["scores"]["function_name_and_args_accuracy"] for r in reports
    ]
    assert v.run_id == "run-2"  # the newest run is shown


def _embedded(html: str) -> Any:
    m = re.search(r'<script type="application/json" id="flywheel-data">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def test_page_escapes_report_strings_and_embeds_the_chart_data() -> None:
    report = decided_report()
    report["results"][0]["error"] = "</script><script>alert(1)</script>"
    v = view_of(report)
    html = render_page([v])
    assert "<script>alert(1)" not in html
    assert _embedded(html) == [json.loads(json.dumps(v.chart_data()))]


def test_inline_report_fetches_nothing() -> None:
    html = render_page([view_of(decided_report())], inline=True)
    assert "Chart.js v4" in html  # the vendored library is inside the file
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script src=" not in html and '<link rel="stylesheet"' not in html


def test_the_bar_is_drawn_when_nothing_meets_it() -> None:
    """The bar comes from the report the decision writes, with and without a recommendation (issue 23)."""
    from flywheel.config import SelectionConfig
    from flywheel.decision.report import decide
    from flywheel.run.models import ResultEntry

    for bar in (0.99, 0.5):  # nothing meets it / something does
        results = [ResultEntry.model_validate(e) for e in plain_report()["results"]]
        entries, fields = decide(
            results, "tool_calling", 50, {}, {}, {}, {}, SelectionConfig(min_quality=bar), None, None
        )
        decided = fields.model_dump(mode="json")
        report = {**plain_report(), "results": [e.to_json() for e in entries], **decided}
        assert (report["recommendation"] is None) == (bar == 0.99)
        assert view_of(report).bar == bar
    old = {**decided_report()}  # a report written before the decision carried its bar
    assert view_of(old).bar == old["recommendation"]["min_quality"]
