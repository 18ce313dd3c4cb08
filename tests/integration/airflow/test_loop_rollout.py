"""The rollout under a real scheduler, through a real LiteLLM proxy (with the flywheel hook) in front of the
emulator: live traffic flows through the gateway while ``flywheel_rollout`` moves the candidate's weight.

1. A promotion whose candidate the emulator degrades (fault ``wrong_answers``): the shadow step finds its
   answers disagree with the incumbent's, routes everything back and fails the run with the reason.
2. The fault cleared, a promotion goes shadow → canary 50 % → the HITL gate (answered through the REST API as
   the UI does) → 100 %: the gateway serves the candidate, the audit (XCom + MongoDB) lists every step.

The promotion events are created through the REST API (what ``promote`` emits is covered by test_decision).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.localstack.gateway import Gateway, gateway_installed
from flywheel.localstack.processes import ManagedProcess
from flywheel.localstack.stack import LocalStack
from flywheel.serving.adapters.gateway import GatewayTarget
from flywheel.serving.observe import served_lines
from flywheel.serving.routing import Route, read_routing
from tests.support.mongo import mongo_server
from tests.support.waiting import wait_for

from .stack import make_stack, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(not gateway_installed(), reason="the LiteLLM proxy is not installed: run `make gateway`"),
]

WID = "cs"
DAG = "flywheel_rollout"
INCUMBENT, CANDIDATE = "meta/llama-3.1-8b-instruct", "meta/llama-3.2-1b-instruct"
GATE = f"/dags/{DAG}/dagRuns/{{rid}}/taskInstances/approve_full/-1/hitlDetails"


def config(work: Path, gateway_url: str) -> dict[str, Any]:
    return {
        "log_source": {"kind": "file", "path": str(work / "logs.jsonl")},
        "serving": {
            "target": "gateway",
            "gateway_url": gateway_url,
            "routing_file": str(work / "routing.json"),
            "serving_log_dir": str(work / "serving"),
            "canary_weights": [50, 100],
            "shadow_requests": 8,
            "step_requests": 6,
            "step_timeout": 300,
        },
        "defaults": {
            "schedule": None,
            "selection": {"min_quality": 0.8, "approval": "required"},
            "production": {
                "model_name": INCUMBENT,
                "price": {"usd_per_1m_input_tokens": 1.0, "usd_per_1m_output_tokens": 2.0},
            },
        },
        "nims": [{"model_name": CANDIDATE}],
        "workloads": [{"workload_id": WID, "workload_type": "generic"}],
    }


def requests_file(path: Path) -> Path:
    with path.open("w") as f:
        for i in range(40):
            req = {"messages": [{"role": "user", "content": f"Where is my order number {i}?"}]}
            f.write(json.dumps({"workload_id": WID, "request": req}) + "\n")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    work = tmp_path_factory.mktemp("flywheel-loop")
    mongo, conn = mongo_server(work)
    with ExitStack() as exits:
        s = make_stack(work, {}, extra_env={"AIRFLOW_CONN_FLYWHEEL_MONGO": json.dumps(conn)})
        gw = Gateway(
            workdir=work,
            upstream_url=s.emulator_url,
            routing_file=work / "routing.json",
            log_file=work / "logs.jsonl",
            serving_log_dir=work / "serving",
        )
        s.config_path.write_text(json.dumps(config(work, gw.url)))
        s.run_cli(["flywheel", "check-config", str(s.config_path)])
        s.mongo_url = f"mongodb://127.0.0.1:{conn['port']}"  # type: ignore[attr-defined]
        s.work = work  # type: ignore[attr-defined]
        exits.enter_context(running(s, DAG, alongside=mongo))
        exits.enter_context(gw)
        for model in (INCUMBENT, CANDIDATE):
            deploy(s, model)
        # the workload is behind the gateway, served by its incumbent, before any rollout
        GatewayTarget(str(work / "routing.json")).apply(Route(workload_id=WID, incumbent=INCUMBENT))
        records = str(requests_file(work / "requests.jsonl"))
        cmd = [sys.executable, "-m", "flywheel.sampledata.traffic", "--gateway", gw.url, "--workload", WID]
        traffic = ManagedProcess("traffic", [*cmd, "--records", records, "--rate", "3"], work / "logs")
        exits.enter_context(traffic)
        wait_for(lambda: len(logged(work)) >= 10, timeout=120, what="live traffic logged by the gateway", interval=1)
        yield s
        assert gw.alive() and traffic.alive()
    assert not gw.alive() and not traffic.alive()


def deploy(stack: LocalStack, model: str) -> None:
    body = {"name": model.replace("/", "-"), "namespace": "dfwbp", "config": {"model": model}}
    stack.emulator("POST", "/v1/deployment/model-deployments", json=body)
    wait_for(lambda: model in {m["id"] for m in stack.emulator("GET", "/v1/models")["data"]}, timeout=60, what=model)


def logged(work: Path) -> list[dict[str, Any]]:
    path = work / "logs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def promote(stack: LocalStack) -> None:
    assert stack.api is not None
    found = stack.api.http.get("/assets", params={"uri_pattern": f"flywheel://promotions/{WID}"}).json()
    asset_id = found["assets"][0]["id"]
    extra = {"workload_id": WID, "model_id": CANDIDATE, "nim": CANDIDATE, "experiment": "base", "approver": "test"}
    r = stack.api.http.post("/assets/events", json={"asset_id": asset_id, "extra": extra})
    assert r.status_code == 200, r.text


def asking(stack: LocalStack, gate: str) -> bool:
    assert stack.api is not None
    try:
        return stack.api.http.get(gate).status_code == 200
    except httpx.TimeoutException:  # a busy API server: not yet
        return False


def rollout_runs(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.api is not None
    return list(stack.api.http.get(f"/dags/{DAG}/dagRuns", params={"order_by": "run_after"}).json()["dag_runs"])


def new_run(stack: LocalStack, before: int) -> str:
    runs = wait_for(lambda: len(r := rollout_runs(stack)) > before and r, timeout=120, what="a rollout run", interval=1)
    return str(runs[-1]["dag_run_id"])


def finished(stack: LocalStack, rid: str, timeout: float = 900) -> str:
    """The run's final state. A busy machine can keep the API server from answering within the client's
    timeout: such a poll counts as "not yet", the deadline still holds."""
    assert stack.api is not None

    def state() -> str | None:
        try:
            got = stack.api.http.get(f"/dags/{DAG}/dagRuns/{rid}")  # type: ignore[union-attr]
        except httpx.TimeoutException:
            return None
        value = got.json().get("state") if got.status_code == 200 else None
        return value if value in ("success", "failed") else None

    return str(wait_for(state, timeout=timeout, what=f"rollout run {rid} finished", interval=2))


def audit(stack: LocalStack, rid: str) -> dict[str, Any]:
    import pymongo

    with pymongo.MongoClient(stack.mongo_url, serverSelectionTimeoutMS=5000) as client:  # type: ignore[attr-defined]
        doc = client["flywheel"]["rollouts"].find_one({"rollout_id": f"{DAG}/{rid}"}, {"_id": 0})
    assert doc is not None, f"no audit for {rid}"
    return dict(doc)


def serving_state(stack: LocalStack, headers: dict[str, str] | None = None) -> httpx.Response:
    """``GET /flywheel/api/serving`` as the page's API answers it (the JWT of the admin unless ``headers``)."""
    if headers is None:
        got = httpx.post(f"{stack.api_url}/auth/token", json={"username": "admin", "password": stack.admin_password})
        got.raise_for_status()
        headers = {"Authorization": f"Bearer {got.json()['access_token']}"}
    return httpx.get(f"{stack.api_url}/flywheel/api/serving", params={"workload_id": WID}, headers=headers, timeout=60)


def test_the_serving_state_needs_a_login_and_names_nothing(stack: LocalStack) -> None:
    r = serving_state(stack, headers={})
    assert r.status_code == 401 and WID not in r.text and "serving" not in r.json()["detail"].lower()
    before = serving_state(stack)
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["incumbent"], body["candidate"], body["step"]) == (INCUMBENT, None, "incumbent")
    assert body["target"] == "gateway" and body["last_rollback"] is None


def test_a_degraded_candidate_is_rolled_back_with_the_reason(stack: LocalStack) -> None:
    stack.emulator("POST", "/emulator/faults", json=[{"kind": "wrong_answers", "model": CANDIDATE}])
    try:
        promote(stack)
        rid = new_run(stack, 0)
        assert stack.api is not None
        assert finished(stack, rid) == "failed"
    finally:
        stack.emulator("DELETE", "/emulator/faults")
    route = read_routing(stack.work / "routing.json").routes[WID]  # type: ignore[attr-defined]
    assert (route.step, route.candidate_weight, route.incumbent) == ("rolled_back", 0, INCUMBENT)
    doc = audit(stack, rid)
    assert doc["state"] == "rolled_back"
    steps = [s["step"] for s in doc["steps"]]
    assert steps == ["plan", "rollback"], steps
    back = doc["steps"][-1]
    assert back["after"] == "shadow" and "agreement with the incumbent 0.000" in back["reason"], back
    assert stack.api.task_states(DAG, rid)["shadow[-1]"] == "failed"
    # the page's API: the route rolled back, the rollout and its reason from the audit
    body = serving_state(stack).json()
    assert (body["step"], body["candidate_weight"], body["rollout_id"]) == ("rolled_back", 0, f"{DAG}/{rid}")
    assert body["rollout_state"] == "rolled_back" and body["last_rollback"]["reason"] == back["reason"]
    assert body["last_rollback"]["after"] == "shadow" and body["last_rollback"]["candidate"] == CANDIDATE
    # the rollback's record is in XCom too (what the page reads without MongoDB)
    assert stack.api.xcom(DAG, rid, "shadow", key="rollback")["reason"] == back["reason"]


def test_a_healthy_candidate_goes_through_canary_and_the_gate_to_full(stack: LocalStack) -> None:
    assert stack.api is not None
    before = len(rollout_runs(stack))
    promote(stack)
    rid = new_run(stack, before)
    gate = GATE.format(rid=rid)
    wait_for(lambda: asking(stack, gate), timeout=900, what="the gate asking", interval=2)
    route = read_routing(stack.work / "routing.json").routes[WID]  # type: ignore[attr-defined]
    assert (route.step, route.candidate_weight) == ("canary", 50)
    r = stack.api.http.patch(gate, json={"chosen_options": ["Go to 100 %"], "params_input": {}})
    assert r.status_code == 200, r.text
    assert finished(stack, rid) == "success"

    route = read_routing(stack.work / "routing.json").routes[WID]  # type: ignore[attr-defined]
    assert (route.step, route.candidate_weight, route.primary) == ("full", 100, CANDIDATE)
    doc = audit(stack, rid)
    steps = [s["step"] for s in doc["steps"]]
    assert steps == ["plan", "shadow", "canary_50", "canary_50", "gate", "full", "full"], steps
    assert doc["state"] == "done"
    canary = doc["steps"][3]
    assert canary["requests"] >= 6 and canary["errors"] == 0 and canary["agreement"] == 1.0, canary
    assert stack.api.xcom(DAG, rid, "full")["weight"] == 100
    body = serving_state(stack).json()
    assert (body["incumbent"], body["candidate"], body["candidate_weight"]) == (INCUMBENT, CANDIDATE, 100)
    assert (body["step"], body["serving"], body["rollout_state"], body["rollout_step"]) == (
        "full",
        CANDIDATE,
        "done",
        "full",
    )
    assert body["last_rollback"]["after"] == "shadow"  # the earlier rollout's
    # the gateway now sends every request of the workload to the candidate
    since = time.time()
    lines = wait_for(
        lambda: len(x := served_lines(str(stack.work / "serving"), WID, since)) >= 5 and x,  # type: ignore[attr-defined]
        timeout=60,
        what="traffic after the rollout",
        interval=0.5,
    )
    assert {x.served_model for x in lines} == {CANDIDATE}
