"""The Flywheel page in a real browser after real runs under the test scheduler.

Two runs of one workload, then Debian's Chromium (driven by Playwright, no browser download) logs in
through Airflow's own login form and opens ``/flywheel/``. Every check is data-driven: it reads the
`report` XComs and compares the chart points, the marked recommendation, each table cell and the history
with them, so the checks keep holding as the decision fields (latency, cost, recommendation) appear.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.localstack.stack import LocalStack
from flywheel.ui.view import PRIMARY_METRIC, fmt

from .stack import make_stack, running
from .test_flywheel_dags import SMALL, TOOLS, make_logs, run_id, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKLOAD = "customer_service"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A stack with two finished runs of the tool-calling workload: (stack, [run ids oldest first])."""
    work = tmp_path_factory.mktemp("flywheel-page")
    logs = work / "logs.jsonl"
    make_logs(logs)
    config = stack_config(logs)
    # a bar the emulator's candidates meet, decided without a person: every run has a recommendation to mark
    config["defaults"]["selection"] = {"min_quality": 0.5, "approval": "auto"}
    s = make_stack(work, config, emulator_args=["--gpus", "2"])
    with running(s, TOOLS):
        runs = []
        for tag in ("page1", "page2"):  # one after the other: each run's history must include the earlier one
            rid = run_id(tag)
            r = s.api.trigger(TOOLS, {"nims": [SMALL]}, rid)
            assert r.status_code == 200, r.text
            assert s.api.wait_run(TOOLS, rid) == "success", s.api.task_states(TOOLS, rid)
            runs.append(rid)
        yield s, runs


def token(stack: LocalStack) -> str:
    r = httpx.post(f"{stack.api_url}/auth/token", json={"username": "admin", "password": stack.admin_password})
    r.raise_for_status()
    return r.json()["access_token"]


def resolve(report: dict[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else (node or {}).get(part)
    return node


def completed_with_metric(report: dict[str, Any]) -> list[dict[str, Any]]:
    metric = PRIMARY_METRIC[report["workload_type"]]
    return [r for r in report["results"] if r["status"] == "completed" and metric in r["scores"]]


def test_anonymous_requests_are_refused(finished: Any) -> None:
    stack, _ = finished
    for path in ("/flywheel/", f"/flywheel/api/results?workload_id={WORKLOAD}"):
        assert httpx.get(f"{stack.api_url}{path}").status_code == 401, path
        bad = httpx.get(f"{stack.api_url}{path}", headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code in (401, 403), (path, bad.status_code)
        forged = httpx.get(f"{stack.api_url}{path}", cookies={"_token": "x.y.z"})
        assert forged.status_code in (401, 403), (path, forged.status_code)


def test_json_endpoint_returns_the_report_xcoms(finished: Any) -> None:
    stack, runs = finished
    headers = {"Authorization": f"Bearer {token(stack)}"}
    body = httpx.get(f"{stack.api_url}/flywheel/api/results", params={"workload_id": WORKLOAD}, headers=headers).json()
    by_run = {r["run_id"]: r["report"] for r in body["reports"]}
    for rid in runs:
        assert by_run[rid] == stack.api.xcom(TOOLS, rid, "report")
    one = httpx.get(
        f"{stack.api_url}/flywheel/api/results", params={"workload_id": WORKLOAD, "run_id": runs[0]}, headers=headers
    ).json()
    assert [r["run_id"] for r in one["reports"]] == [runs[0]]
    # no secret of the stack's connections or login leaks into the answer
    text = json.dumps(body)
    assert stack.admin_password not in text and stack.emulator_url not in text


def test_run_report_file_is_linked_from_the_report_task(finished: Any) -> None:
    stack, runs = finished
    headers = {"Authorization": f"Bearer {token(stack)}"}
    links = stack.api.http.get(f"/dags/{TOOLS}/dagRuns/{runs[-1]}/taskInstances/report/links").json()["extra_links"]
    url = links["Flywheel report"]
    assert url.startswith(f"{stack.api_url}/flywheel/report?"), links
    html = httpx.get(url, headers=headers)
    assert html.status_code == 200 and runs[-1] in html.text and "Chart.js v4" in html.text
    assert '<script src="' not in html.text  # self-contained
    assert httpx.get(url).status_code == 401
    on_disk = list((stack.workdir / "artifacts" / TOOLS).glob("*/report/report.html"))
    assert len(on_disk) == len(runs)


@contextmanager
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Debian's Chromium under Playwright (no browser download): a persistent context, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1100},
        )
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Any, stack: LocalStack) -> None:
    """As a person does: Airflow's own login form sets the UI's token cookie."""
    page.goto(f"{stack.api_url}/auth/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", stack.admin_password)
    page.keyboard.press("Enter")
    page.wait_for_function("document.cookie.includes('_token=')", timeout=30_000)


def csp_violations(page: Any) -> list[str]:
    """Chromium's console reports of what the Content-Security-Policy blocked (filled as the page runs)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_page_in_chromium_matches_the_reports(finished: Any, tmp_path: Path) -> None:
    stack, runs = finished
    reports = {rid: stack.api.xcom(TOOLS, rid, "report") for rid in runs}
    latest = reports[runs[-1]]
    with chromium(tmp_path) as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        blocked = csp_violations(page)
        log_in(page, stack)
        # the navigation has the Flywheel entry, which shows the page inside Airflow's UI
        page.goto(f"{stack.api_url}/")
        page.get_by_text("Flywheel", exact=True).first.wait_for(timeout=30_000)
        page.goto(f"{stack.api_url}/plugin/flywheel")
        embedded = page.frame_locator("iframe").first.locator("body[data-charts-ready=true]")
        embedded.wait_for(state="attached", timeout=30_000)
        page.screenshot(path=str(tmp_path / "flywheel-in-airflow.png"))

        page.goto(f"{stack.api_url}/flywheel/")
        page.wait_for_selector("body[data-charts-ready=true]", timeout=30_000)
        section = page.locator(f'section[data-workload="{WORKLOAD}"]')
        assert section.get_attribute("data-run") == runs[-1]
        drawn = page.evaluate(
            """(wid) => {
              const c = window.flywheelCharts[wid];
              const ds = (chart, label) => chart.data.datasets.find(d => d.label === label);
              return {
                experiments: ds(c.quality, "experiments").data.map(p => p.label),
                // each point's own pixel on the canvas: painted (not background) and inside the canvas
                drawn: c.quality.getDatasetMeta(0).data.filter(e => {
                  const r = window.devicePixelRatio || 1, cv = c.quality.canvas;
                  if (e.skip || e.x < 0 || e.y < 0 || e.x > cv.clientWidth || e.y > cv.clientHeight) return false;
                  const px = cv.getContext("2d").getImageData(Math.round(e.x * r), Math.round(e.y * r), 1, 1).data;
                  return px[3] > 0 && (px[0] + px[1] + px[2]) < 600;
                }).length,
                recommended: ds(c.quality, "recommended").data.map(p => p.label),
                history: Object.fromEntries(c.history.data.datasets.map(d => [d.label, d.data.map(p => p.x)])),
              };
            }""",
            WORKLOAD,
        )
        page.screenshot(path=str(tmp_path / "flywheel-page.png"), full_page=True)
        cells = page.eval_on_selector_all(
            f'section[data-workload="{WORKLOAD}"] td[data-path]',
            "tds => tds.map(td => [td.dataset.path, td.dataset.format, td.dataset.value, td.innerText])",
        )
    keep = Path(__file__).resolve().parents[3] / ".cache" / "test-output"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in ("flywheel-page.png", "flywheel-in-airflow.png"):
        shutil.copy(tmp_path / shot, keep / shot)
    assert not errors, errors
    assert not blocked, blocked  # the page and its charts work under its own policy

    # one chart point per completed experiment (with the primary metric), drawn on the canvas
    expected = [f"{r['nim']} / {r['experiment']}" for r in completed_with_metric(latest)]
    assert drawn["experiments"] == expected and drawn["drawn"] == len(expected)
    rec = latest.get("recommendation")
    assert rec, latest.get("recommendation_note")
    assert drawn["recommended"] == [f"{rec['nim']} / {rec['experiment']}"]
    decision = stack.api.xcom(TOOLS, runs[-1], "approve_promotion", key="decision")
    assert (decision["status"], decision["nim"], decision["experiment"]) == ("auto", rec["nim"], rec["experiment"])

    # every table value equals the report XCom, shown as the page formats it
    # (the trust tables' cells — judge, paired, slices — carry report paths too, and are checked the same way)
    assert len([c for c in cells if c[0].startswith("results.")]) == len(latest["results"]) * 11
    for path, kind, value, text in cells:
        assert json.loads(value) == resolve(latest, path), path
        assert text.strip() == fmt(resolve(latest, path), kind), path

    # history: one point per run for each candidate that completed in that run
    for name, points in drawn["history"].items():
        want = [
            rid
            for rid in runs
            if any(f"{r['nim']} / {r['experiment']}" == name for r in completed_with_metric(reports[rid]))
        ]
        assert points == want, name
    assert any(len(points) == len(runs) for points in drawn["history"].values())
