"""The Flywheel page and the per-run report against script injection, in Debian's Chromium, logged in.

One stack, one real run whose user-controlled strings are payloads: the production model's name (config),
the platform's error message (an emulator evaluation failure), the approval comment (Airflow's
human-in-the-loop answer); then the run's `report` XCom gets payloads in the NIM and experiment names, job
ids and the recommendation (PATCHed through Airflow's REST API). Every payload also goes into every query
parameter and the path. Checked: no dialog fires, nothing a payload would create exists in the page, the
payloads show as text, the policy blocks none of the page's own assets, the headers are on every status, and
nothing answered before authentication (page or DAG trigger) names a DAG, a parameter or a workload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from flywheel.localstack.stack import LocalStack
from flywheel.ui.security import PAGE_CSP, report_csp
from tests.unit.ui.payloads import PAGE_TAGS, PAYLOADS

from .stack import make_stack, reset_emulator, running
from .test_decision import answer, awaiting_approval
from .test_flywheel_dags import SMALL, TOOLS, make_logs, run_id, stack_config
from .test_flywheel_page import WORKLOAD, chromium, csp_violations, log_in, token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PRODUCTION, PLATFORM, COMMENT, STORED = PAYLOADS[0], PAYLOADS[1], PAYLOADS[3], PAYLOADS[2]
HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin"}
TAGS = sorted(PAGE_TAGS | {"pre"})  # <pre>: how Chromium shows a JSON answer
# what a payload would have made of a page, read in the browser: foreign elements, handlers, script URLs
FOREIGN = """(tags) => [...document.querySelectorAll("*")].flatMap(el => {
  const out = tags.includes(el.localName) ? [] : ["<" + el.localName + ">"];
  for (const a of el.attributes) {
    if (a.name.startsWith("on") || a.name === "srcdoc") out.push(a.name + " on <" + el.localName + ">");
    if (["href", "src", "action"].includes(a.name) && a.value.trim().toLowerCase().startsWith("javascript"))
      out.push(a.name + "=" + a.value);
  }
  return out;
})"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(stack, run id): one finished run with payloads in every stored string the page shows."""
    work = tmp_path_factory.mktemp("page-security")
    logs = work / "logs.jsonl"
    make_logs(logs)
    config = stack_config(logs)
    config["defaults"]["selection"] = {"min_quality": 0.5, "approval": "required"}
    config["defaults"]["production"] = {
        "model_name": PRODUCTION,
        "price": {"usd_per_1m_input_tokens": 0.9, "usd_per_1m_output_tokens": 0.9},
    }
    s = make_stack(work, config, emulator_args=["--gpus", "2"])
    with running(s, TOOLS):
        # one evaluation fails with the payload as the platform's message
        reset_emulator(
            s, [{"kind": "job_failure", "job": "evaluation", "model": SMALL, "count": 1, "message": PLATFORM}]
        )
        rid = run_id("xss")
        r = s.api.trigger(TOOLS, {"nims": [SMALL]}, rid)
        assert r.status_code == 200, r.text
        detail = awaiting_approval(s, TOOLS, rid)
        answer(s, TOOLS, rid, detail["options"][0], COMMENT)
        assert s.api.wait_run(TOOLS, rid) in ("success", "failed"), s.api.task_states(TOOLS, rid)
        report = s.api.xcom(TOOLS, rid, "report")
        for i, e in enumerate(report["results"]):
            e.update(nim=f"{STORED} nim{i}", experiment=f"{STORED} exp{i}", job_id=f"{STORED} job{i}")
        report["recommendation"].update(nim=f"{STORED} nim0", reason=STORED)
        path = f"/dags/{TOOLS}/dagRuns/{rid}/taskInstances/report/xcomEntries/return_value"
        r = s.api.http.patch(path, json={"value": report, "map_index": -1})
        assert r.status_code == 200, r.text
        yield s, rid


def reflected_urls(stack: LocalStack, rid: str, payload: str) -> dict[str, tuple[str, int]]:
    """Every place a payload in the URL reaches an answer: name -> (url, expected status)."""
    base = f"{stack.api_url}/flywheel"
    return {
        "workload_id": (f"{base}/?{urlencode({'workload_id': payload})}", 403),
        "run_id": (f"{base}/?{urlencode({'workload_id': WORKLOAD, 'run_id': payload})}", 200),
        "report dag_id": (f"{base}/report?{urlencode({'dag_id': payload, 'run_id': rid})}", 403),
        "report run_id": (f"{base}/report?{urlencode({'dag_id': TOOLS, 'run_id': payload})}", 404),
        "report missing": (f"{base}/report?{urlencode({'dag_id': TOOLS, payload: payload})}", 422),
        "json workload_id": (f"{base}/api/results?{urlencode({'workload_id': payload})}", 403),
        "path": (f"{base}/{quote(payload, safe='')}", 404),
    }


def test_payloads_in_the_browser_run_nothing(planted: Any, tmp_path: Path) -> None:
    stack, rid = planted
    dialogs: list[str] = []
    checked: list[tuple[str, str, int]] = []
    with chromium(tmp_path) as browser:
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
        blocked = csp_violations(page)
        log_in(page, stack)

        # stored payloads: the page (also inside Airflow's UI) and the run's report file
        page.goto(f"{stack.api_url}/flywheel/?{urlencode({'workload_id': WORKLOAD, 'run_id': rid})}")
        page.wait_for_selector("body[data-charts-ready=true]", timeout=30_000)
        assert page.evaluate(FOREIGN, TAGS) == []
        text = page.inner_text("body")
        for payload in (PRODUCTION, PLATFORM, COMMENT, STORED):
            assert payload in text, payload  # shown as text
        labels = page.evaluate(f"window.flywheelCharts[{WORKLOAD!r}].quality.data.datasets.map(d => d.label)")
        assert any(PRODUCTION in label for label in labels), labels  # and intact in the charts
        page.goto(f"{stack.api_url}/plugin/flywheel")
        page.frame_locator("iframe").first.locator("body[data-charts-ready=true]").wait_for(
            state="attached", timeout=30_000
        )
        response = page.goto(f"{stack.api_url}/flywheel/report?{urlencode({'dag_id': TOOLS, 'run_id': rid})}")
        assert response is not None and response.headers["content-security-policy"] == report_csp()
        page.wait_for_selector("body[data-charts-ready=true]", timeout=30_000)  # its inline scripts ran
        assert page.evaluate(FOREIGN, TAGS) == []
        text = page.inner_text("body")
        assert PRODUCTION in text and PLATFORM in text
        own_assets_blocked = list(blocked)

        # reflected payloads: every query parameter and the path, every payload
        for payload in PAYLOADS:
            for name, (url, status) in reflected_urls(stack, rid, payload).items():
                response = page.goto(url)
                assert response is not None and response.status == status, (name, payload, response and response.status)
                for header, value in HEADERS.items():
                    assert response.headers.get(header) == value, (name, header)
                assert response.headers.get("content-security-policy") == PAGE_CSP, name
                assert page.evaluate(FOREIGN, TAGS) == [], (name, payload)
                if name in ("run_id", "workload_id", "report run_id"):
                    assert payload in page.inner_text("body"), (name, payload)  # shown as text
                checked.append((name, payload, status))
    assert not dialogs, dialogs
    assert not own_assets_blocked, own_assets_blocked  # the page and the report work under their policies
    assert not blocked, blocked  # and no payload even got as far as the policy
    assert len(checked) == len(PAYLOADS) * 7


def test_headers_on_every_status(planted: Any) -> None:
    stack, rid = planted
    bearer = {"Authorization": f"Bearer {token(stack)}"}
    base = f"{stack.api_url}/flywheel"
    answers = {
        200: httpx.get(f"{base}/", headers=bearer),
        401: httpx.get(f"{base}/"),
        403: httpx.get(f"{base}/", params={"workload_id": "nope"}, headers=bearer),
        404: httpx.get(f"{base}/report", params={"dag_id": TOOLS, "run_id": "nope"}, headers=bearer),
    }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.text[:200])
        assert r.headers["content-type"].startswith("text/html"), status
        assert r.headers["content-security-policy"] == PAGE_CSP, status
        for header, value in HEADERS.items():
            assert r.headers[header] == value, (status, header)
    report = httpx.get(f"{base}/report", params={"dag_id": TOOLS, "run_id": rid}, headers=bearer)
    assert report.status_code == 200 and report.headers["content-security-policy"] == report_csp()
    assert "'unsafe-inline'" not in report_csp() + PAGE_CSP and "frame-ancestors 'self'" in PAGE_CSP


def test_nothing_answered_before_authentication_names_anything(planted: Any) -> None:
    stack, rid = planted
    named = (TOOLS, WORKLOAD, rid, "eval_size", "eval_sise", "nims", "min_quality")
    no_login = {"none": {}, "junk bearer": {"headers": {"Authorization": "Bearer junk"}}}
    no_login["junk cookie"] = {"cookies": {"_token": "junk.junk.junk"}}
    seen = 0
    for how, kw in no_login.items():
        client = httpx.Client(base_url=stack.api_url, **kw)
        answers = [
            client.get("/flywheel/", params={"workload_id": WORKLOAD}),
            client.get("/flywheel/report", params={"dag_id": TOOLS, "run_id": rid}),
            client.get("/flywheel/api/results", params={"workload_id": WORKLOAD}),
            # a trigger with an unknown conf key: Airflow's own 401/403, not the conf guard's list of params
            client.post(f"/api/v2/dags/{TOOLS}/dagRuns", json={"logical_date": None, "conf": {"eval_sise": 1}}),
        ]
        for r in answers:
            assert r.status_code in (401, 403), (how, r.request.url, r.status_code, r.text[:200])
            assert not [n for n in named if n in r.text], (how, r.request.url, r.text[:300])
            seen += 1
    assert seen == 12
    # logged in, the guard still answers the misspelt key, quoting a long one short
    long_key = "<script>alert(1)</script>" * 10
    r = stack.api.trigger(TOOLS, {"eval_sise": 1, long_key: 1}, run_id("bad"))
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "'eval_sise'" in detail and "eval_size" in detail and long_key not in detail, detail
