"""The page's FastAPI app over an in-memory backend (a real implementation of its Backend protocol: reports
from dicts, users from a token table). Airflow's own JWT check is exercised by the browser test."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from flywheel.serving.routing import Route
from flywheel.ui.app import create_app
from flywheel.ui.serving import Rollout, ServingState, serving_state
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

    def serving(self, workload_id: str) -> ServingState:
        return serving_state(workload_id, "gateway", ROUTES.get(workload_id), ROLLOUTS)


ROUTES = {
    "customer_service": Route(
        workload_id="customer_service",
        incumbent="meta/llama-3.1-70b-instruct",
        candidate="meta/llama-3.2-1b-instruct",
        candidate_weight=25,
        step="canary",
        rollout="flywheel_rollout/r2",
    )
}
ROLLOUTS = [
    Rollout.model_validate(
        {
            "rollout_id": "flywheel_rollout/r1",
            "workload_id": "customer_service",
            "candidate": "bad/<model>",
            "incumbent": "meta/llama-3.1-70b-instruct",
            "state": "rolled_back",
            "steps": [
                {"step": "shadow", "at": "2026-01-01T00:00:00+00:00", "agreement": 0.1},
                {
                    "step": "rollback",
                    "at": "2026-01-01T00:00:01+00:00",
                    "after": "shadow",
                    "reason": "agreement 0.10 < 0.80",
                },
            ],
        }
    ),
    Rollout.model_validate(
        {
            "rollout_id": "flywheel_rollout/r2",
            "workload_id": "customer_service",
            "candidate": "meta/llama-3.2-1b-instruct",
            "incumbent": "meta/llama-3.1-70b-instruct",
            "state": "running",
            "steps": [{"step": "shadow"}, {"step": "canary_25", "weight": 25}],
        }
    ),
]


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


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/results?workload_id=customer_service",
        "/report?dag_id=x&run_id=y",
        "/api/serving?workload_id=customer_service",
    ],
)
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


def test_serving_state_answers_route_rollout_and_last_rollback(client: TestClient) -> None:
    r = client.get("/api/serving", params={"workload_id": "customer_service"}, headers=auth("alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["incumbent"] == "meta/llama-3.1-70b-instruct" and body["candidate"] == "meta/llama-3.2-1b-instruct"
    assert (body["candidate_weight"], body["step"], body["target"]) == (25, "canary", "gateway")
    assert (body["rollout_id"], body["rollout_state"], body["rollout_step"]) == (
        "flywheel_rollout/r2",
        "running",
        "canary_25",
    )
    rb = body["last_rollback"]
    assert (rb["rollout_id"], rb["after"], rb["reason"]) == ("flywheel_rollout/r1", "shadow", "agreement 0.10 < 0.80")


def test_serving_state_is_authorized_like_the_results(client: TestClient) -> None:
    params = {"workload_id": "customer_service"}
    assert client.get("/api/serving", params=params, headers=auth("bob")).status_code == 403
    refused = client.get("/api/serving", params=params)
    assert refused.status_code == 401 and "customer_service" not in refused.text
    assert client.get("/api/serving", headers=auth("alice")).status_code == 422


def test_page_shows_the_serving_panel_escaped(client: TestClient) -> None:
    html = client.get("/", params={"workload_id": "customer_service"}, headers=auth("alice")).text
    assert 'data-testid="serving" data-workload="customer_service"' in html
    assert "75 % meta/llama-3.1-70b-instruct · 25 % meta/llama-3.2-1b-instruct" in html
    assert "at shadow: agreement 0.10 &lt; 0.80 (bad/&lt;model&gt; → meta/llama-3.1-70b-instruct)" in html
