"""The decision under a real scheduler (LocalExecutor), against the emulator and a MongoDB-protocol server:
latency and cost per candidate, the recommendation, Airflow's human-in-the-loop approval answered through
the same REST endpoint the UI's buttons call, and the promotion (platform mark, Asset event, audit).

The emulator is tuned so the 3B model is 2.5× slower than the 1B one: the customized 1B meets the bar and
is the cheapest, so it is recommended. A second workload (same logs, another id) has a 20 s approval
timeout, so an unanswered approval expires.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.airflow.rows_store import read_rows
from flywheel.decision import per_1m_output_tokens_usd, savings, wilson_interval
from flywheel.decision.paired import bootstrap_mean
from flywheel.decision.rows import metric_values
from flywheel.localstack.stack import LocalStack
from tests.support.mongo import mongo_server
from tests.support.waiting import wait_for

from .leaks import leak_check
from .stack import kill_and_restart, make_stack, reset_emulator, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"
RATIO = 2.5
DAG, EXPIRING = "flywheel_customer_service", "flywheel_cs_expiring"
# The emulator's answers are a deterministic draw per (seed, conversation): on this eval set the 1B base model
# agrees 0.65 on name+args and ICL / customized 0.85, so the bar sits between them.
BAR = 0.75
GPU_HOUR = {"L40S": 1.2}


def make_logs(path: Path) -> None:
    part = path.with_suffix(".tool.jsonl")
    subprocess.run(
        [
            str(Path(sys.executable).parent / "flywheel"),
            *("sample-data", "--workload", "tool_calling", "--records", "200"),
            "--seed",
            "7",
            "--out",
            str(part),
        ],
        check=True,
        capture_output=True,
    )
    lines = part.read_text().splitlines()
    with path.open("w") as out:
        for workload in ("customer_service", "cs_expiring"):
            for line in lines:
                out.write(json.dumps({**json.loads(line), "workload_id": workload}) + "\n")


def stack_config(logs: Path) -> dict[str, Any]:
    return {
        "platform": {
            "namespace": "fwdecide",
            "poll_initial_s": 0.5,
            "poll_max_s": 2.0,
            "lease_poll_s": 8.0,
            "request_timeout_s": 10,
            "max_retries": 3,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "none"},
        "airflow": {"retries": 0},
        "pricing": {"gpu_hour_usd": GPU_HOUR},
        "latency": {"prompts": 20, "concurrency": 4, "max_seconds": 30},
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 20, "min_total_records": 20, "limit": 400, "random_seed": 7},
            "icl": {"max_examples": 2, "reserved_tokens": 1024},
            "training": {"epochs": 1},
            "production": {
                "model_name": "meta/llama-3.3-70b-instruct",
                "price": {"usd_per_1m_input_tokens": 0.9, "usd_per_1m_output_tokens": 0.9},
            },
            "selection": {"min_quality": BAR, "approval": "required"},
        },
        "workloads": [
            {"workload_id": "customer_service", "client_id": "aiva-1", "workload_type": "tool_calling"},
            {
                "workload_id": "cs_expiring",
                "client_id": "aiva-1",
                "workload_type": "tool_calling",
                "overrides": {"selection": {"approval_timeout": 20}},
            },
        ],
        "nims": [
            {
                "model_name": SMALL,
                "gpu_type": "L40S",
                "customization_enabled": True,
                "customizer": {"target": f"{SMALL}@2.0", "gpus": 1},
            },
            {"model_name": LARGE, "gpu_type": "L40S"},
        ],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("flywheel-decision")
    logs = work / "logs.jsonl"
    make_logs(logs)
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(
        yaml.safe_dump(
            # prompt tokens weigh enough that ICL prompts are clearly slower (costlier) than the adapter's
            {"gpus": 2, "latency": {"base_ms": 30.0, "ms_per_prompt_token": 0.3, "scale": {SMALL: 1.0, LARGE: RATIO}}}
        )
    )
    mongo, conn = mongo_server(work)
    s = make_stack(
        work,
        stack_config(logs),
        emulator_args=["--config", str(emulator_cfg)],
        extra_env={
            "AIRFLOW_CONN_FLYWHEEL_MONGO": json.dumps(conn),
            # the scheduler's sweep of unanswered approvals (default every 15 s)
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "3",
        },
    )
    s.run_cli(["flywheel", "check-config", str(s.config_path)])
    s.mongo_url = f"mongodb://127.0.0.1:{conn['port']}"  # type: ignore[attr-defined]
    with running(s, DAG, EXPIRING, alongside=mongo):
        reset_emulator(s)
        yield s


def trigger(stack: LocalStack, dag_id: str, tag: str, conf: dict[str, Any]) -> str:
    rid = f"{tag}-{uuid.uuid4().hex[:8]}"
    r = stack.api.trigger(dag_id, conf, rid)
    assert r.status_code == 200, r.text
    return rid


def hitl_path(dag_id: str, rid: str) -> str:
    return f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/approve_promotion/-1/hitlDetails"


WAITING = ("deferred", "awaiting_input")


def awaiting_approval(stack: LocalStack, dag_id: str, rid: str, timeout: float = 600) -> dict[str, Any]:
    """The HITL request, as soon as approve_promotion waits for it (the answer-timing tests measure their
    delay from this moment). One light read per 0.5 s: a busy API server must not be hammered."""

    def ready() -> dict[str, Any] | None:
        r = stack.api.http.get(f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/approve_promotion")
        if r.status_code != 200 or r.json()["state"] not in WAITING:
            state = stack.api.run(dag_id, rid)["state"]
            assert state in ("queued", "running"), (state, stack.api.task_states(dag_id, rid))
            return None
        r = stack.api.http.get(hitl_path(dag_id, rid))
        return r.json() if r.status_code == 200 else None

    return wait_for(ready, timeout, f"{dag_id}/{rid} awaiting approval", interval=0.5)


def send_answer(stack: LocalStack, dag_id: str, rid: str, option: str, comment: str) -> Any:
    """Exactly what the UI's button does: PATCH the task instance's hitlDetails."""
    return stack.api.http.patch(
        hitl_path(dag_id, rid), json={"chosen_options": [option], "params_input": {"comment": comment}}
    )


def answer(stack: LocalStack, dag_id: str, rid: str, option: str, comment: str) -> None:
    """Answer at once: the moment the request is seen (issue 21: the product must not fail the task)."""
    r = send_answer(stack, dag_id, rid, option, comment)
    assert r.status_code == 200, r.text


def answer_twice_at_once(stack: LocalStack, dag_id: str, rid: str, options: list[str]) -> list[Any]:
    """Two people answer the same request at the same moment (one PATCH per thread)."""
    import threading

    replies: list[Any] = [None] * len(options)
    go = threading.Barrier(len(options))

    def one(i: int) -> None:
        go.wait()
        replies[i] = send_answer(stack, dag_id, rid, options[i], f"answer {i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(options))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return replies


def clear_tasks(stack: LocalStack, dag_id: str, rid: str, task_ids: list[str]) -> None:
    """Clear ``task_ids`` (and what follows them) of a run, as the UI's Clear does."""
    body = {"dry_run": False, "task_ids": task_ids, "dag_run_id": rid, "include_downstream": True}
    body |= {"only_failed": False, "reset_dag_runs": True}
    r = stack.api.http.post(f"/dags/{dag_id}/clearTaskInstances", json=body)
    assert r.status_code == 200, r.text


def asset_events(stack: LocalStack, rid: str) -> list[dict[str, Any]]:
    return stack.api.asset_events(source_run_id=rid, limit=50)


def mongo_promotion(stack: LocalStack, dag_id: str, rid: str) -> dict[str, Any] | None:
    import pymongo

    with pymongo.MongoClient(stack.mongo_url, serverSelectionTimeoutMS=5000) as client:  # type: ignore[attr-defined]
        return client["flywheel"]["promotions"].find_one({"dag_id": dag_id, "run_id": rid}, {"_id": 0})


def check_recommendation_recomputes(report: dict[str, Any]) -> None:
    """Every number in the recommendation follows from the report's own entries."""
    rec, prod, volume = report["recommendation"], report["production"], report["volume"]
    entry = next(r for r in report["results"] if (r["nim"], r["experiment"]) == (rec["nim"], rec["experiment"]))
    n = report["datasets"]["eval"]["records"]
    assert rec["score"] == entry["scores"][rec["primary_metric"]]
    if entry.get("rows_url"):  # the bootstrap over the candidate's rows artifact (docs/results.md)
        values = list(metric_values(read_rows(entry["rows_url"]), rec["primary_metric"]).values())
        assert len(values) == n and rec["score"] == pytest.approx(sum(values) / n, abs=1e-9)
        found = bootstrap_mean(values)
        assert rec["ci"] == [round(found.lo, 4), round(found.hi, 4)]
    else:
        assert rec["ci"] == [round(x, 4) for x in wilson_interval(round(rec["score"] * n), n)]
    assert rec["p95_ms"] == entry["latency"]["p95_ms"]
    cost = entry["cost"]
    assert cost["per_1m_output_tokens_usd"] == pytest.approx(
        per_1m_output_tokens_usd(cost["gpus"], cost["gpu_hour_usd"], entry["latency"]["output_tokens_per_s"]), rel=1e-5
    )
    assert rec["per_1m_output_tokens_usd"] == cost["per_1m_output_tokens_usd"]
    expected = savings(
        prod["per_1m_output_tokens_usd"], rec["per_1m_output_tokens_usd"], volume["output_tokens_per_month"]
    )
    assert rec["savings_per_month_usd"] == pytest.approx(expected, abs=0.01)
    assert (rec["min_quality"], rec["max_p95_ms"]) == (BAR, None)
    completed = [r for r in report["results"] if r["status"] == "completed" and rec["primary_metric"] in r["scores"]]
    meeting = [r for r in completed if r["scores"][rec["primary_metric"]] >= BAR]
    assert rec["per_1m_output_tokens_usd"] == min(r["cost"]["per_1m_output_tokens_usd"] for r in meeting)


def test_a_approval_promotes_the_cheapest_model_that_meets_the_bar(stack: LocalStack) -> None:
    rid = trigger(stack, DAG, "approve", {})
    detail = awaiting_approval(stack, DAG, rid)
    report = stack.api.xcom(DAG, rid, "report")
    by = {(r["nim"], r["experiment"]): r for r in report["results"]}
    rec = report["recommendation"]
    # The cheapest candidate meeting the bar by the report's own measured costs (recomputed below). Which one
    # that is depends on measured latency: the emulator makes the 3B model 2.5x slower and ICL prompts slower
    # than the adapter's, so on a quiet machine it is the customized 1B; on a loaded one (two stacks side by
    # side) the 1B's ICL has measured cheaper. The 1B is asserted, the experiment only through the rule.
    assert rec["nim"] == SMALL, (rec, report["comparison"])
    assert by[(SMALL, "customized")]["scores"][rec["primary_metric"]] >= BAR, by[(SMALL, "customized")]
    check_recommendation_recomputes(report)
    # latency is measured for every served experiment (how the measured figures compare depends on the
    # machine's load: that is benchmarks/latency.py's business, not a test assertion)
    for key in [(SMALL, "base"), (SMALL, "icl"), (SMALL, "customized"), (LARGE, "base"), (LARGE, "icl")]:
        lat, cost = by[key]["latency"], by[key]["cost"]
        assert lat["requests"] == 20 and lat["errors"] == 0 and lat["p50_ms"] <= lat["p95_ms"], (key, lat)
        assert cost["gpu_hours"] > 0 and cost["per_1m_output_tokens_usd"] > 0, (key, cost)
    assert by[(LARGE, "customized")]["latency"] is None and by[(LARGE, "customized")]["cost"] is None
    assert report["production"]["per_1m_output_tokens_usd"] > rec["per_1m_output_tokens_usd"]
    assert rec["savings_per_month_usd"] > 0
    # the form: the recommendation first, other completed candidates, reject; a markdown body
    options = detail["options"]
    assert options[0] == f"Approve: {SMALL} · {rec['experiment']}" and options[-1] == "Reject"
    assert f"Promote instead: {LARGE} · base" in options and "| NIM | experiment |" in detail["body"]
    # the person promotes the adapter: the recommendation's option when it is the adapter, else "instead"
    adapter_option = next(o for o in options if o.endswith(f"{SMALL} · customized"))

    answer(stack, DAG, rid, adapter_option, "cheaper and good enough")
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    decision = stack.api.xcom(DAG, rid, "approve_promotion", key="decision")
    assert decision["status"] == "approved" and (decision["nim"], decision["experiment"]) == (SMALL, "customized")
    assert decision["by"] == "admin" and decision["comment"] == "cheaper and good enough" and decision["at"]
    # the Asset event a deployment DAG can be scheduled on
    events = asset_events(stack, rid)
    assert [e["uri"] for e in events] == ["flywheel://promotions/customer_service"], events
    extra = events[0]["extra"]
    audit = stack.api.xcom(DAG, rid, "promote", key="audit")
    adapter = audit["model_id"]
    assert (extra["nim"], extra["experiment"], extra["model_id"]) == (SMALL, "customized", adapter)
    assert (
        extra["approver"] == "admin"
        and extra["run_id"] == rid
        and extra["scores"] == by[(SMALL, "customized")]["scores"]
    )
    promoted_cost = by[(SMALL, "customized")]["cost"]["per_1m_output_tokens_usd"]
    assert extra["cost"]["per_1m_output_tokens_usd"] == promoted_cost and extra["latency"]
    # the adapter outlived the teardown, marked promoted; the deployment is gone
    assert stack.stats()["live_deployments"] == 0
    entity = stack.emulator("GET", f"/v1/models/{adapter}")
    assert entity["custom_fields"]["flywheel_promoted"] is True
    assert entity["custom_fields"]["flywheel_promoted_run"] == f"{DAG}/{rid}"
    # the audit: XCom and MongoDB agree; datasets with sha256, job ids, settings hash, who, when, comment
    stored = mongo_promotion(stack, DAG, rid)
    assert stored is not None and stored["decision"] == decision and stored["model_id"] == adapter
    assert {d["kind"] for d in audit["datasets"]} >= {"eval", "train", "val"}
    assert all(len(d["sha256"]) == 64 and d["path"].endswith(".jsonl") for d in audit["datasets"]), audit["datasets"]
    assert {"nim": SMALL, "experiment": "customized", "job_id": by[(SMALL, "customized")]["job_id"]} in audit["job_ids"]
    assert audit["customization_job_id"] and len(audit["settings_sha256"]) == 64
    assert (audit["by"], audit["comment"]) == ("admin", "cheaper and good enough")

    # clearing promote (a re-run) emits no second event and writes no second audit record: it says it re-ran
    clear_tasks(stack, DAG, rid, ["promote"])
    wait_for(lambda: stack.api.task_states(DAG, rid)["promote[-1]"] == "skipped", 300, "promote re-ran", interval=1)
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    assert len(asset_events(stack, rid)) == 1
    rerun = stack.api.xcom(DAG, rid, "promote", key="audit")["rerun"]
    assert rerun["event_id"] == events[0]["id"], rerun
    stored = mongo_promotion(stack, DAG, rid)
    assert stored["decision"] == decision and [r["event_id"] for r in stored["reruns"]] == [events[0]["id"]]


def test_b_two_answers_at_once_exactly_one_is_applied(stack: LocalStack) -> None:
    rid = trigger(stack, DAG, "twice", {"nims": [SMALL], "icl_enabled": False})
    detail = awaiting_approval(stack, DAG, rid)
    approve = detail["options"][0]
    assert approve == f"Approve: {SMALL} · customized"
    replies = answer_twice_at_once(stack, DAG, rid, [approve, "Reject"])
    codes = sorted(r.status_code for r in replies)
    assert codes == [200, 409], [(r.status_code, r.text) for r in replies]
    won = [approve, "Reject"][[r.status_code for r in replies].index(200)]
    refused = next(r for r in replies if r.status_code == 409)
    assert "already answered by admin" in refused.json()["detail"], refused.text
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    decision = stack.api.xcom(DAG, rid, "approve_promotion", key="decision")
    assert stack.api.http.get(hitl_path(DAG, rid)).json()["chosen_options"] == [won]
    if won == "Reject":
        assert (decision["status"], decision["nim"]) == ("rejected", None), decision
        assert asset_events(stack, rid) == []
        assert stack.api.task_states(DAG, rid)["promote[-1]"] == "skipped"
        assert mongo_promotion(stack, DAG, rid)["decision"]["status"] == "rejected"
    else:
        assert (decision["status"], decision["nim"]) == ("approved", SMALL), decision
        assert len(asset_events(stack, rid)) == 1
    assert decision["comment"] == f"answer {[approve, 'Reject'].index(won)}"
    # a third answer, after the decision: refused, nothing changes
    late = send_answer(stack, DAG, rid, "Reject", "too late")
    assert late.status_code == 409, late.text
    assert stack.api.xcom(DAG, rid, "approve_promotion", key="decision") == decision


def test_c_unanswered_approval_expires(stack: LocalStack) -> None:
    rid = trigger(stack, EXPIRING, "expire", {"nims": [SMALL], "icl_enabled": False})
    awaiting_approval(stack, EXPIRING, rid)
    assert stack.api.wait_run(EXPIRING, rid, timeout=180) == "success", stack.api.task_states(EXPIRING, rid)
    decision = stack.api.xcom(EXPIRING, rid, "approve_promotion", key="decision")
    assert decision["status"] == "expired" and decision["nim"] is None
    assert asset_events(stack, rid) == []
    assert mongo_promotion(stack, EXPIRING, rid)["decision"]["status"] == "expired"


def test_d_bar_not_met_skips_the_approval_with_the_reason(stack: LocalStack) -> None:
    conf = {"nims": [SMALL], "icl_enabled": False, "customization_enabled": False, "min_quality": 0.99}
    rid = trigger(stack, EXPIRING, "bar", conf)
    assert stack.api.wait_run(EXPIRING, rid) == "success", stack.api.task_states(EXPIRING, rid)
    report = stack.api.xcom(EXPIRING, rid, "report")
    assert report["recommendation"] is None
    note = report["recommendation_note"]
    assert "no completed candidate meets the bar" in note["reason"] and note["closest"]["nim"] == SMALL
    states = stack.api.task_states(EXPIRING, rid)
    assert states["approve_promotion[-1]"] == "skipped" and states["promote[-1]"] == "skipped"
    decision = stack.api.xcom(EXPIRING, rid, "approve_promotion", key="decision")
    assert decision["status"] == "skipped" and note["reason"] in decision["comment"]


def test_e_a_newer_report_supersedes_a_pending_approval_and_mark_failed_closes_one(stack: LocalStack) -> None:
    conf = {"nims": [SMALL], "icl_enabled": False}
    old = trigger(stack, DAG, "older", conf)
    awaiting_approval(stack, DAG, old)
    # waiting for a person does not hold the next run of the workload
    new = trigger(stack, DAG, "newer", conf)
    wait_for(lambda: stack.api.run(DAG, new)["state"] == "running", 120, "the newer run started", interval=1)
    awaiting_approval(stack, DAG, new)
    # the newer report closes the older approval: nobody approves stale numbers
    assert stack.api.wait_run(DAG, old, timeout=300) == "success", stack.api.task_states(DAG, old)
    decision = stack.api.xcom(DAG, old, "approve_promotion", key="decision")
    assert (decision["status"], decision["nim"], decision["superseded_by"]) == ("superseded", None, new), decision
    assert asset_events(stack, old) == [] and stack.api.task_states(DAG, old)["promote[-1]"] == "skipped"
    assert mongo_promotion(stack, DAG, old)["decision"]["status"] == "superseded"
    late = send_answer(stack, DAG, old, f"Approve: {SMALL} · customized", "stale")
    assert late.status_code == 409, late.text

    # a person marks the newer run failed while its approval waits: it ends failed, later answers are refused
    r = stack.api.set_run_state(DAG, new, "failed")
    assert r.status_code == 200, r.text
    assert stack.api.wait_run(DAG, new, timeout=300) == "failed", stack.api.task_states(DAG, new)
    states = stack.api.task_states(DAG, new)
    assert states["approve_promotion[-1]"] == "failed", states
    late = send_answer(stack, DAG, new, f"Approve: {SMALL} · customized", "after mark-failed")
    assert late.status_code == 409 and "failed" in late.json()["detail"], late.text
    assert stack.api.wait_run(DAG, new) == "failed"
    assert asset_events(stack, new) == []
    assert stack.stats()["live_deployments"] == 0


# -------------------------------------------------------------- the fault matrix (make test-faults, marker faults)
SMALL_RUN = {"nims": [SMALL], "icl_enabled": False}
APPROVE = f"Approve: {SMALL} · customized"


def ask_again(stack: LocalStack, rid: str) -> dict[str, Any]:
    """Clear approve_promotion (and promote) of a finished run: the same question is asked again."""
    clear_tasks(stack, DAG, rid, ["approve_promotion"])
    return awaiting_approval(stack, DAG, rid, timeout=300)


def decided(stack: LocalStack, rid: str, status: str) -> dict[str, Any]:
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    decision = stack.api.xcom(DAG, rid, "approve_promotion", key="decision")
    assert decision["status"] == status, decision
    return decision


@pytest.mark.faults
def test_f_an_answer_at_any_moment_after_the_pause_is_applied_once(stack: LocalStack) -> None:
    rid = trigger(stack, DAG, "timing", SMALL_RUN)
    awaiting_approval(stack, DAG, rid)
    for n, delay in enumerate((0.0, 0.5, 1.0, 2.0)):
        if n:
            ask_again(stack, rid)
        paused = time.monotonic()  # the delay after the pause is what this case is about
        time.sleep(max(0.0, paused + delay - time.monotonic()))
        option = APPROVE if delay == 2.0 else "Reject"
        r = send_answer(stack, DAG, rid, option, f"after {delay} s")
        assert r.status_code == 200, (delay, r.text)
        decision = decided(stack, rid, "approved" if option == APPROVE else "rejected")
        assert decision["comment"] == f"after {delay} s"
        assert stack.api.task_states(DAG, rid)["approve_promotion[-1]"] == "success"
    # one approval among the four answers: one promotion event
    assert len(asset_events(stack, rid)) == 1
    leak_check(stack, "approval answered 0 / 0.5 / 1 / 2 s after the pause", DAG, rid)


@pytest.mark.faults
def test_g_answers_across_triggerer_and_scheduler_kills(stack: LocalStack) -> None:
    rid = trigger(stack, DAG, "kills", SMALL_RUN)
    awaiting_approval(stack, DAG, rid)
    kill_and_restart(stack, "triggerer")  # kill -9 the process the stack started, by pid; start it again
    answer(stack, DAG, rid, "Reject", "triggerer restarted")
    decided(stack, rid, "rejected")

    ask_again(stack, rid)
    kill_and_restart(stack, "triggerer")
    ask_again_wait = awaiting_approval(stack, DAG, rid)  # still waiting after the restart
    assert ask_again_wait["options"][0] == APPROVE
    answer(stack, DAG, rid, APPROVE, "scheduler killed right after the answer")
    kill_and_restart(stack, "scheduler")
    decision = decided(stack, rid, "approved")
    assert decision["comment"] == "scheduler killed right after the answer"
    assert len(asset_events(stack, rid)) == 1
    late = send_answer(stack, DAG, rid, "Reject", "late")
    assert late.status_code == 409, late.text
    leak_check(stack, "approval answered across triggerer and scheduler kills", DAG, rid)


@pytest.mark.faults
def test_h_emulator_restart_mid_customization(stack: LocalStack) -> None:
    reset_emulator(stack, [{"kind": "slow_job", "job": "customization", "seconds": 60}])
    rid = trigger(stack, DAG, "emu-restart", SMALL_RUN)
    wait_for(
        lambda: stack.api.task_states(DAG, rid).get("nim_experiment.customize[0]") == "deferred",
        600,
        "customize deferred",
        interval=1,
    )
    kill_and_restart(stack, "emulator")  # the platform loses every job and deployment
    wait_for(lambda: stack.api.run(DAG, rid)["state"] != "running", 600, "the run ended", interval=2)
    states = stack.api.task_states(DAG, rid)
    assert stack.api.run(DAG, rid)["state"] == "failed", states
    # the teardown found the customization unknown (404): gone, and it still dealt with the deployment
    assert states["nim_experiment.teardown_nim[0]"] == "success", states
    decision = stack.api.xcom(DAG, rid, "approve_promotion", key="decision")
    assert decision["status"] == "skipped", decision  # the customized candidate never completed
    assert asset_events(stack, rid) == []
    leak_check(stack, "emulator restarted mid-customization (approval required)", DAG, rid)
