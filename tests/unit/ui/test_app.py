"""The page's FastAPI app over an in-memory backend (a real implementation of its Backend protocol: reports
from dicts, users from a token table). Airflow's own JWT check is exercised by the browser test."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from flywheel.ui.app import create_app
from flywheel.ui.view import RunReport

from .reports import decided_report, plain_report

DAG, OTHER = "flywheel_customer_service", "flywheel_news_classifier"


class MemoryBackend:
    def __init__(self, runs: dict[str, list[RunReport]], users: dict[str, set[str]]) -> None:
        self._runs, self._users = runs, users

    async def authenticate(self, request: Request) -> Any:
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ") or request.cookies.get("_token")
        if not token:
            raise HTTPException(status_code=401, detail="Not authenticated")
        if token not in self._users:
            raise HTTPException(status_code=403, detail="Invalid JWT token")
        return token

    def dag_ids(self, user: Any) -> list[str]:
        return [d for d in self._runs if d in self._users[user]]

    def runs(self, dag_id: str) -> list[RunReport]:
        return self._runs[dag_id]

    def history(self, dag_id: str, runs: list[RunReport]) -> list[RunReport]:
        return runs

    def airflow_base(self) -> str:
        return ""

    def login_url(self, next_url: str) -> str | None:
        return "/auth/login"

    def run_report(self, dag_id: str, run_id: str) -> str | None:
        return f"<html>{dag_id}/{run_id}</html>" if any(r.run_id == run_id for r in self._runs[dag_id]) else None


@pytest.fixture
def client() -> TestClient:
    runs = {
        DAG: [
            RunReport(DAG, "r1", plain_report(), "2026-01-01T00:00:00+00:00", "success"),
            RunReport(DAG, "r2", decided_report(), "2026-01-02T00:00:00+00:00", "success"),
        ],
        OTHER: [],
    }
    backend = MemoryBackend(runs, {"alice": {DAG, OTHER}, "bob": {OTHER}})
    return TestClient(create_app(backend))


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user}"}


@pytest.mark.parametrize("path", ["/", "/api/results?workload_id=customer_service", "/report?dag_id=x&run_id=y"])
def test_anonymous_and_invalid_tokens_are_refused(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth("mallory")).status_code == 403


def test_page_lists_every_permitted_workload(client: TestClient) -> None:
    r = client.get("/", headers=auth("alice"))
    assert r.status_code == 200
    assert 'data-workload="customer_service" data-run="r2"' in r.text
    assert 'data-workload="news_classifier"' in r.text and "no finished report yet" in r.text
    assert "customer_service" not in client.get("/", headers=auth("bob")).text


def test_cookie_works_like_the_ui(client: TestClient) -> None:
    client.cookies.set("_token", "alice")
    assert client.get("/api/results", params={"workload_id": "customer_service"}).status_code == 200


def test_json_returns_the_reports_newest_first_and_history(client: TestClient) -> None:
    body = client.get("/api/results", params={"workload_id": "customer_service"}, headers=auth("alice")).json()
    assert [r["run_id"] for r in body["reports"]] == ["r2", "r1"]
    assert body["reports"][0]["report"] == decided_report()
    for series in body["history"]:
        expected = [
            r["run_id"]
            for r in reversed(body["reports"])
            for e in r["report"]["results"]
            if f"{e['nim']} / {e['experiment']}" == series["name"] and e["status"] == "completed"
        ]
        assert [p["run_id"] for p in series["points"]] == expected
    one = client.get("/api/results", params={"workload_id": "customer_service", "run_id": "r1"}, headers=auth("alice"))
    assert [r["report"] for r in one.json()["reports"]] == [plain_report()]


def test_json_refuses_other_users_workloads_and_unknown_runs(client: TestClient) -> None:
    assert (
        client.get("/api/results", params={"workload_id": "customer_service"}, headers=auth("bob")).status_code == 403
    )
    r = client.get("/api/results", params={"workload_id": "customer_service", "run_id": "nope"}, headers=auth("alice"))
    assert r.status_code == 404


def test_run_selector_shows_an_older_run(client: TestClient) -> None:
    r = client.get("/", params={"workload_id": "customer_service", "run_id": "r1"}, headers=auth("alice"))
    assert 'data-run="r1"' in r.text and "news_classifier" not in r.text


def test_static_assets_and_the_run_report(client: TestClient) -> None:
    js = client.get("/static/chart.umd.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/report", params={"dag_id": DAG, "run_id": "r2"}, headers=auth("alice")).text.endswith(
        "r2</html>"
    )
    assert client.get("/report", params={"dag_id": DAG, "run_id": "r2"}, headers=auth("bob")).status_code == 403
