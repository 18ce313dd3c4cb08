"""No value reaches the page's HTML unescaped, every answer carries the security headers, and a refused
login names nothing. Over the page's FastAPI app with the in-memory backend of test_app (a real
implementation of the Backend protocol); the browser suite runs the same payloads in Chromium."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from flywheel.run.models import Decision
from flywheel.ui.app import create_app
from flywheel.ui.render import render_page, safe_url
from flywheel.ui.security import PAGE_CSP, report_csp
from flywheel.ui.view import RunReport, workload_view

from .payloads import PAYLOADS, Scan
from .reports import decided_report
from .test_app import DAG, OTHER, MemoryBackend, auth

ROOT = Path(__file__).resolve().parents[3]
HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "SAMEORIGIN"}


def poisoned(payload: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A report and a decision with ``payload`` in every string a person or the platform controls."""
    report = decided_report()
    for i, e in enumerate(report["results"]):
        e["nim"], e["experiment"] = f"{payload}-nim{i}", f"{payload}-exp{i}"
        e["error"], e["job_id"] = f"platform said {payload}", f"{payload}-job{i}"
    report["workload_type"] = payload
    report["production"]["model_name"] = payload
    rec = report["recommendation"]
    rec.update(nim=report["results"][2]["nim"], experiment=report["results"][2]["experiment"], reason=payload)
    rec["primary_metric"] = payload
    # the status is one of the contract's words (a stored decision with any other is not read: see below)
    decision = {"status": "approved", "nim": payload, "experiment": payload, "by": payload, "comment": payload}
    return report, decision


def check_page(html: str, payload: str, scripts: int) -> Scan:
    scan = Scan(html)
    assert not scan.problems(), (payload, scan.problems())
    assert sum(1 for tag, _ in scan.tags if tag == "script") == scripts
    assert payload in "".join(scan.text), payload  # shown, as text
    data = json.loads(next(s for s in scan.scripts if s.startswith("[{")))
    assert any(payload in text for text in strings(data)), payload  # the charts get it intact
    return scan


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [s for item in items for s in strings(item)]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_page_and_report_show_every_payload_as_text(payload: str) -> None:
    report, decision = poisoned(payload)
    runs = [RunReport(DAG, f"{payload}-run", report, None, payload, decision)]
    view = workload_view(payload, DAG, runs)
    check_page(render_page([view], page_href="/flywheel/"), payload, scripts=4)
    report_file = render_page([view], title=f"Flywheel report — {payload}", inline=True)
    check_page(report_file, payload, scripts=3)
    assert "49" not in Scan(report_file).text[0]  # a value is never evaluated as a template
    with pytest.raises(ValidationError, match="status"):
        Decision.model_validate({**decision, "status": payload})


def test_report_file_policy_allows_exactly_its_inline_assets() -> None:
    html = render_page([workload_view("w", DAG, [RunReport(DAG, "r", decided_report())])], inline=True)
    scan = Scan(html)
    inline = [s for s in scan.scripts if not s.startswith("[{")]
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert len(inline) == 2 and style
    meta = next(a["content"] for t, a in scan.tags if t == "meta" and a.get("http-equiv"))
    assert meta == report_csp(meta=True) and report_csp().startswith(meta)
    for text in [*inline, style.group(1)]:
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in meta
    assert "'unsafe-inline'" not in meta and "frame-ancestors 'self'" in report_csp()


def test_links_never_carry_a_script_url() -> None:
    assert safe_url("javascript:alert(1)") == "#" and safe_url(" JavaScript:alert(1)") == "#"
    assert safe_url("data:text/html,x") == "#" and safe_url("vbscript:x") == "#"
    assert safe_url("/dags/x/runs/y") == "/dags/x/runs/y" and safe_url("https://a/b") == "https://a/b"


class BrokenBackend(MemoryBackend):
    """Its run store is down for one DAG: the page's 500."""

    def runs(self, dag_id: str) -> list[RunReport]:
        if dag_id == OTHER:
            raise ConnectionError("store down")
        return super().runs(dag_id)


@pytest.fixture
def client() -> TestClient:
    runs = {DAG: [RunReport(DAG, "r1", decided_report(), None, "success")], OTHER: []}
    backend = BrokenBackend(runs, {"alice": {DAG}, "carol": {DAG, OTHER}})
    return TestClient(create_app(backend), raise_server_exceptions=False)


def answers(client: TestClient, payload: str) -> dict[str, Any]:
    wid = {"workload_id": payload}
    return {
        "200 page": client.get("/", headers=auth("alice")),
        "200 report": client.get("/report", params={"dag_id": DAG, "run_id": "r1"}, headers=auth("alice")),
        "200 json": client.get("/api/results", params={"workload_id": "customer_service"}, headers=auth("alice")),
        "200 static": client.get("/static/flywheel.js"),
        "401 page": client.get("/", params=wid),
        "401 report": client.get("/report", params={"dag_id": payload, "run_id": payload}),
        "401 json": client.get("/api/results", params=wid),
        "403 junk token": client.get("/", params=wid, headers=auth(payload)),
        "403 junk cookie": client.get("/", params=wid, cookies={"_token": "junk"}),
        "403 workload": client.get("/", params=wid, headers=auth("alice")),
        "403 report": client.get("/report", params={"dag_id": payload, "run_id": "r1"}, headers=auth("alice")),
        "404 report": client.get("/report", params={"dag_id": DAG, "run_id": payload}, headers=auth("alice")),
        "404 path": client.get("/nowhere", headers=auth("alice")),
        "422 page": client.get("/report", params={"dag_id": DAG}, headers=auth("alice")),
        "500 page": client.get("/", headers=auth("carol")),
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_answer_has_the_headers_and_escapes_what_it_echoes(client: TestClient, payload: str) -> None:
    for name, r in answers(client, payload).items():
        assert r.status_code == int(name[:3]), (name, r.status_code, r.text[:200])
        for header, value in HEADERS.items():
            assert r.headers.get(header) == value, (name, header)
        csp = r.headers.get("content-security-policy")
        assert csp == (report_csp() if name == "200 report" else PAGE_CSP), name
        if r.headers["content-type"].startswith("text/html"):
            assert not re.search(r"[<>\"']", payload) or payload not in r.text, name  # escaped if echoed
            assert not Scan(r.text).problems(), (name, Scan(r.text).problems())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_refused_login_names_nothing(client: TestClient, payload: str) -> None:
    for name, r in answers(client, payload).items():
        if name.startswith(("401", "403 junk")):
            for named in (payload, "customer_service", DAG, "r1", "workload_id", "dag_id"):
                assert named not in r.text, (name, named, r.text)


def test_a_refused_login_links_to_the_page_not_the_refused_url(client: TestClient) -> None:
    r = client.get("/", params={"workload_id": "customer_service", "run_id": "r1"})
    link = next(a["href"] for t, a in Scan(r.text).tags if t == "a")
    assert link.startswith("/auth/login") and "customer_service" not in link


def test_no_html_is_built_in_python() -> None:
    """HTML comes only from the templates: no string literal (or f-string part) in the page's modules opens or
    closes a tag. Docstrings are prose and exempt."""
    files = [*(ROOT / "include/flywheel/ui").glob("*.py"), ROOT / "include/flywheel/airflow/results_page.py"]
    tag = re.compile(r"</?[a-zA-Z!][^<>]*>")
    found = []
    for path in files:
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
            if isinstance(text, str) and tag.search(text):
                found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found
