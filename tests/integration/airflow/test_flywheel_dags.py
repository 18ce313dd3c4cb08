"""The flywheel DAGs under a real scheduler (not dag.test(), which ignores pools), against the emulator.

One stack serves the module; each test resets the emulator's state and faults first.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.waiting import wait_for

from .leaks import ROWS, leak_check
from .stack import assert_not_in_run, make_stack, reset_emulator, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"
SERVED = "meta/llama-3.3-70b-instruct"  # already served elsewhere: the emulator's hosted model, by URL
# the hosted model (judge and served candidate) answers only with this key, as a hosted API does
HOSTED_KEY = "sk-hosted-" + uuid.uuid4().hex
TOOLS, NEWS = "flywheel_customer_service", "flywheel_news_classifier"


def make_logs(path: Path) -> None:
    with path.open("w") as out:
        for workload, n in (("tool_calling", 260), ("classification", 260)):
            part = path.with_suffix(f".{workload}.jsonl")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flywheel.cli",
                    "sample-data",
                    "--workload",
                    workload,
                    "--records",
                    str(n),
                    "--seed",
                    "7",
                    "--out",
                    str(part),
                ],
                check=True,
                capture_output=True,
            )
            out.write(part.read_text())


def stack_config(logs: Path, served_url: str | None = None) -> dict[str, Any]:
    """``served_url``: also a candidate already served there (NEWS evaluates it; TOOLS does not)."""
    served = (
        [{"model_name": SERVED, "context_length": 8192, "served_url": served_url, "served_conn_id": "served_70b"}]
        if served_url
        else []
    )
    return {
        "platform": {
            "namespace": "fwtest",
            "poll_initial_s": 0.5,
            "poll_max_s": 2.0,
            "lease_poll_s": 8.0,
            "deployment_pending_timeout_s": 120,
            "request_timeout_s": 10,
            "max_retries": 3,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "remote", "model_name": "meta/llama-3.3-70b-instruct"},
        "airflow": {"retries": 1, "retry_delay_s": 1},
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 20, "min_total_records": 20, "limit": 400, "random_seed": 7},
            "icl": {"max_examples": 2, "reserved_tokens": 1024},
            "training": {"epochs": 1},
            # these runs are about the pipeline, not the decision: a recommendation never waits for a person
            "selection": {"approval": "off"},
        },
        "workloads": [
            {
                "workload_id": "customer_service",
                "client_id": "aiva-1",
                "workload_type": "tool_calling",
                "nims": [SMALL, LARGE],
            },
            {"workload_id": "news_classifier", "client_id": "news-classifier", "workload_type": "classification"},
        ],
        "nims": [
            {
                "model_name": SMALL,
                "context_length": 8192,
                "customization_enabled": True,
                "customizer": {"target": f"{SMALL}@2.0", "gpus": 1},
            },
            {"model_name": LARGE, "context_length": 8192},
            *served,
        ],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("flywheel-stack")
    logs = work / "logs.jsonl"
    make_logs(logs)
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"judge_api_key": HOSTED_KEY}))
    s = make_stack(
        work, stack_config(logs, "http://127.0.0.1:9"), emulator_args=["--gpus", "2", "--config", str(emulator_cfg)]
    )
    # the served candidate answers at the emulator, whose port the stack has just chosen
    s.config_path.write_text(yaml.safe_dump(stack_config(logs, s.emulator_url), sort_keys=False))
    hosted = {"conn_type": "http", "host": f"{s.emulator_url}/v1/chat/completions", "password": HOSTED_KEY}
    s.extra_env["AIRFLOW_CONN_FLYWHEEL_JUDGE"] = json.dumps(hosted)
    s.extra_env["AIRFLOW_CONN_SERVED_70B"] = json.dumps({"conn_type": "http", "password": HOSTED_KEY})
    s.run_cli(["flywheel", "check-config", str(s.config_path)])
    with running(s, TOOLS, NEWS):
        yield s


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    reset_emulator(stack)
    return stack


def run_id(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def trigger(stack: LocalStack, dag_id: str, tag: str, conf: dict[str, Any] | None = None) -> str:
    rid = run_id(tag)
    r = stack.api.trigger(dag_id, conf, rid)
    assert r.status_code == 200, r.text
    return rid


def report_of(stack: LocalStack, dag_id: str, rid: str) -> dict[str, Any]:
    return stack.api.xcom(dag_id, rid, "report")


def by_key(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["nim"], r["experiment"]): r for r in report["results"]}


def test_a_tool_calling_two_nims_completes_with_scores(fresh: LocalStack) -> None:
    rid = trigger(fresh, TOOLS, "a")
    state = fresh.api.wait_run(TOOLS, rid)
    assert state == "success", fresh.api.task_states(TOOLS, rid)
    report = report_of(fresh, TOOLS, rid)
    assert report["workload_type"] == "tool_calling"
    assert report["datasets"]["eval"]["records"] == 20
    results = by_key(report)
    for key in [(SMALL, "base"), (SMALL, "icl"), (SMALL, "customized"), (LARGE, "base"), (LARGE, "icl")]:
        r = results[key]
        assert r["status"] == "completed", r
        assert set(r["scores"]) >= {"function_name_accuracy", "function_name_and_args_accuracy"}, r
        assert all(0.0 <= v <= 1.0 for v in r["scores"].values()), r
        assert r["job_id"]
    assert results[(LARGE, "customized")]["status"] == "skipped"
    stats = fresh.stats()
    assert stats["live_deployments"] == 0 and stats["live_flywheel_deployments"] == 0
    # map_index_template shows the model name; logs show job ids and the one-line outcome
    tis = fresh.api.task_instances(TOOLS, rid)
    labels = {t["rendered_map_index"] for t in tis if t["task_id"] == "nim_experiment.base_eval"}
    assert labels == {SMALL, LARGE}
    base = next(t for t in tis if t["task_id"] == "nim_experiment.base_eval" and t["rendered_map_index"] == SMALL)
    log = fresh.api.log(TOOLS, rid, "nim_experiment.base_eval", base["try_number"], base["map_index"])
    assert results[(SMALL, "base")]["job_id"] in log and "RESULT" in log


@pytest.mark.leaks
def test_b_rest_trigger_validates_params(fresh: LocalStack) -> None:
    for bad in ({"eval_size": 0}, {"workload_type": "poetry"}, {"nims": ["meta/not-configured"]}, {"val_ratio": 1.5}):
        r = fresh.api.trigger(TOOLS, bad, run_id("bad"))
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert "Invalid input for param" in r.text or "param" in r.text.lower()
    # a misspelt key is refused too (Airflow itself keeps unknown conf keys), naming it and the accepted ones
    for bad in ({"foo": 1}, {"eval_sise": 10}):
        r = fresh.api.trigger(TOOLS, bad, run_id("bad"))
        assert r.status_code == 400, (bad, r.status_code, r.text)
        detail = r.json()["detail"]
        assert repr(next(iter(bad))) in detail and "eval_size" in detail and "nims" in detail, detail
    ROWS.append(
        {
            "scenario": "unknown conf keys (foo, eval_sise)",
            "run": "not created",
            "cleanup_s": "-",
            "outcome": f"400: {' '.join(detail.split())[:90]}",
        }
    )
    # a valid override is accepted and applies to that run only
    rid = trigger(fresh, NEWS, "b", {"nims": [LARGE], "eval_size": 15, "icl_enabled": False})
    assert fresh.api.wait_run(NEWS, rid) == "success", fresh.api.task_states(NEWS, rid)
    report = report_of(fresh, NEWS, rid)
    assert report["datasets"]["eval"]["records"] == 15
    assert {r["nim"] for r in report["results"]} == {LARGE}
    assert by_key(report)[(LARGE, "icl")]["status"] == "skipped"
    assert set(by_key(report)[(LARGE, "base")]["scores"]) >= {"f1", "accuracy"}


def test_c_two_workloads_at_once_hold_one_lease(fresh: LocalStack) -> None:
    a = trigger(fresh, TOOLS, "c")
    b = trigger(fresh, NEWS, "c")
    assert fresh.api.wait_run(TOOLS, a) == "success", fresh.api.task_states(TOOLS, a)
    assert fresh.api.wait_run(NEWS, b) == "success", fresh.api.task_states(NEWS, b)
    stats = fresh.stats()
    assert stats["max_live_flywheel_deployments"] == 1, stats
    assert stats["live_deployments"] == 0
    # NEWS also evaluated a candidate already served elsewhere: where it answers, without a deployment
    served = by_key(report_of(fresh, NEWS, b))
    for experiment in ("base", "icl"):
        assert served[(SERVED, experiment)]["status"] == "completed", served[(SERVED, experiment)]
        assert set(served[(SERVED, experiment)]["scores"]) >= {"f1", "accuracy"}
        job = fresh.emulator("GET", f"/v1/evaluation/jobs/{served[(SERVED, experiment)]['job_id']}")
        assert job["target"]["model"]["api_endpoint"] == {
            "url": f"{fresh.emulator_url}/v1/chat/completions",
            "model_id": SERVED,
            "api_key": HOSTED_KEY,  # from its connection (served_conn_id): the emulator fails the job without it
        }
    latency = served[(SERVED, "base")]["latency"]
    assert latency["requests"] > 0 and latency["errors"] == 0, latency  # measured with its own key
    assert_not_in_run(fresh, NEWS, b, HOSTED_KEY, report_of(fresh, NEWS, b))
    assert served[(SERVED, "customized")]["status"] == "skipped"
    assert stats["jobs_created"]["deployment"] == 4  # SMALL and LARGE for each run; SERVED none


@pytest.mark.leaks
def test_d_failed_customization_fails_only_that_experiment(fresh: LocalStack) -> None:
    fresh.emulator("POST", "/emulator/faults", json=[{"kind": "job_failure", "job": "customization", "model": SMALL}])
    rid = trigger(fresh, TOOLS, "d")
    assert fresh.api.wait_run(TOOLS, rid) == "failed"
    results = by_key(report_of(fresh, TOOLS, rid))
    assert results[(SMALL, "customized")]["status"] == "failed"
    assert results[(SMALL, "customized")]["error"]
    for key in [(SMALL, "base"), (SMALL, "icl"), (LARGE, "base"), (LARGE, "icl")]:
        assert results[key]["status"] == "completed", results[key]
    states = fresh.api.task_states(TOOLS, rid)
    assert [states[f"nim_experiment.teardown_nim[{i}]"] for i in (0, 1)] == ["success", "success"]
    assert states["check_results[-1]"] == "failed"
    leak_check(fresh, "customization failure", TOOLS, rid)
    assert fresh.stats()["live_deployments"] == 0


_wait = functools.partial(wait_for, interval=0.5)  # polls the Airflow API and the emulator: no busy loop


@pytest.mark.leaks
def test_e_mark_failed_mid_customization_cancels_and_cleans_up(fresh: LocalStack) -> None:
    fresh.emulator("POST", "/emulator/faults", json=[{"kind": "slow_job", "job": "customization", "seconds": 300}])
    rid = trigger(fresh, TOOLS, "e", {"nims": [SMALL]})
    _wait(lambda: fresh.stats()["jobs"]["customization"].get("running"), 240, "customization running")
    _wait(
        lambda: fresh.api.task_states(TOOLS, rid).get("nim_experiment.customize[0]") == "deferred",
        60,
        "customize task deferred",
    )
    marked = time.monotonic()
    assert fresh.api.set_run_state(TOOLS, rid, "failed").status_code == 200

    def cleaned() -> bool:
        s = fresh.stats()
        return s["jobs"]["customization"].get("cancelled", 0) >= 1 and s["live_deployments"] == 0

    _wait(cleaned, 60, "customization cancelled and no live deployment")
    assert time.monotonic() - marked <= 60
    assert fresh.api.wait_run(TOOLS, rid, timeout=180) == "failed", fresh.api.task_states(TOOLS, rid)
    leak_check(fresh, "mark failed during customization", TOOLS, rid)


@pytest.mark.leaks
def test_e2_mark_failed_while_deploy_waits_ends_failed_without_a_leak(fresh: LocalStack) -> None:
    # Before: the run ended `success` (mark-failed skips report/check_results, the run's verdict) and the
    # pending deployment stayed live (a failed setup gets no teardown; the trigger's on_kill ignored it).
    fresh.emulator("POST", "/emulator/faults", json=[{"kind": "stuck", "job": "deployment", "model": SMALL}])
    rid = trigger(fresh, TOOLS, "e2", {"nims": [SMALL]})
    _wait(
        lambda: (
            fresh.api.task_states(TOOLS, rid).get("nim_experiment.deploy_nim[0]") == "deferred"
            and fresh.stats()["live_deployments"] == 1
        ),
        240,
        "deploy_nim deferred on a pending deployment",
    )
    assert fresh.api.set_run_state(TOOLS, rid, "failed").status_code == 200
    assert fresh.api.wait_run(TOOLS, rid, timeout=180) == "failed", fresh.api.task_states(TOOLS, rid)
    ended = time.monotonic()
    _wait(lambda: fresh.stats()["live_deployments"] == 0, 60, "no live candidate deployment")
    assert time.monotonic() - ended <= 60
    assert fresh.api.task_states(TOOLS, rid)["check_results[-1]"] == "failed"
    leak_check(fresh, "mark failed during the deploy wait", TOOLS, rid)


@pytest.mark.faults  # 90 s of outage by design: in make test-faults, not make test
def test_e3_a_90s_outage_of_status_reads_is_survived_with_one_retry(fresh: LocalStack) -> None:
    # Before: the trigger turned "could not observe" into a task failure (AirflowFailException, no retry);
    # customize and teardown failed and the ready deployment leaked.
    fresh.emulator("POST", "/emulator/faults", json=[{"kind": "slow_job", "job": "customization", "seconds": 45}])
    rid = trigger(fresh, TOOLS, "e3", {"nims": [SMALL], "icl_enabled": False})
    _wait(
        lambda: fresh.api.task_states(TOOLS, rid).get("nim_experiment.customize[0]") == "deferred",
        240,
        "customize deferred",
    )
    outage = [
        {"kind": "http_error", "endpoint": e, "status": 503, "for_s": 90}
        for e in ("customization.status", "customization.jobs.get", "evaluation.*", "deployments.get")
    ]
    fresh.emulator("POST", "/emulator/faults", json=outage)  # replaces the slow_job fault (already bound)
    assert fresh.api.wait_run(TOOLS, rid, timeout=600) == "success", fresh.api.task_states(TOOLS, rid)
    leak_check(fresh, "90 s outage of status reads (1 retry after 1 s)", TOOLS, rid)
    stats = fresh.stats()
    assert stats["requests"].get("customization.status", 0) > 0
    assert sum(stats["jobs"]["customization"].values()) == 1, stats
    assert stats["live_deployments"] == 0, stats
    results = by_key(report_of(fresh, TOOLS, rid))
    assert results[(SMALL, "customized")]["status"] == "completed", results
    # no task needed a second try (a task skipped before it ran, like ``promote``, has try 0)
    assert all(t["try_number"] <= 1 for t in fresh.api.task_instances(TOOLS, rid)), [
        (t["task_id"], t["try_number"]) for t in fresh.api.task_instances(TOOLS, rid)
    ]


@pytest.mark.leaks
def test_e4_a_same_named_shared_nim_is_never_adopted_nor_deleted(fresh: LocalStack) -> None:
    # A shared NIM (a local judge of another setup) under the candidate's deployment name. Before: deploy_nim
    # adopted it, the lease saw no candidate so the other NIM deployed at the same time, and the candidate's
    # teardown deleted the shared NIM. check-config refuses this for our own judge; the runtime guard holds
    # for anyone else's deployment.
    from flywheel.config import NimConfig
    from flywheel.platforms.nmp.wire import deployment_body

    judge = deployment_body(NimConfig(model_name=SMALL), "fwtest", {"flywheel_role": "judge"})
    fresh.emulator("POST", "/v1/deployment/model-deployments", json=judge)
    rid = trigger(fresh, TOOLS, "e4", {"icl_enabled": False, "customization_enabled": False})
    assert fresh.api.wait_run(TOOLS, rid) == "failed", fresh.api.task_states(TOOLS, rid)
    results = by_key(report_of(fresh, TOOLS, rid))
    assert results[(SMALL, "base")]["status"] == "failed" and "not this run's candidate" in str(
        results[(SMALL, "base")]["error"]
    ), results
    assert results[(LARGE, "base")]["status"] == "completed", results
    leak_check(fresh, "candidate = a shared NIM's model (local judge case)", TOOLS, rid, shared=(judge["name"],))
    names = [d["name"] for d in fresh.emulator("GET", "/v1/deployment/model-deployments")["data"]]
    assert names == [judge["name"]], names
    assert fresh.stats()["max_live_flywheel_deployments"] == 1


@pytest.mark.leaks
def test_f_killed_worker_retry_reattaches_to_the_same_job(fresh: LocalStack) -> None:
    # A slow first status read holds the customize task inside execute() right after it stored the job id.
    # The kill must land in that window: once the task has deferred (or is finishing a resumed phase) a
    # SIGKILL no longer fails the try, and the test would prove nothing about re-attaching.
    fresh.emulator(
        "POST",
        "/emulator/faults",
        json=[{"kind": "latency", "endpoint": "customization.status", "seconds": 8, "count": 1}],
    )
    rid = trigger(fresh, TOOLS, "f", {"nims": [SMALL], "icl_enabled": False})

    def first_status_read_in_flight() -> dict[str, Any] | None:
        ti = _running_ti(fresh, rid, "nim_experiment.customize")
        reads = fresh.stats()["requests"].get("customization.status", 0)
        return ti if ti and ti["try_number"] == 1 and reads == 1 else None

    _wait(lambda: sum(fresh.stats()["jobs"]["customization"].values()) >= 1, 240, "a customization job")
    ti = wait_for(
        first_status_read_in_flight, 8, "customize in execute() with its first status read in flight", interval=0.2
    )
    pid = ti.get("pid")
    assert pid, ti
    os.kill(int(pid), signal.SIGKILL)
    assert fresh.api.wait_run(TOOLS, rid) == "success", fresh.api.task_states(TOOLS, rid)
    leak_check(fresh, "kill -9 of customize in execute (retry re-attaches)", TOOLS, rid)
    stats = fresh.stats()
    assert sum(stats["jobs"]["customization"].values()) == 1, stats
    assert _try_number(fresh, rid, "nim_experiment.customize") == 2, fresh.api.task_instances(TOOLS, rid)


def _running_ti(stack: LocalStack, rid: str, task_id: str) -> dict[str, Any] | None:
    for t in stack.api.task_instances(TOOLS, rid):
        if t["task_id"] == task_id and t["state"] == "running":
            return t
    return None


def _try_number(stack: LocalStack, rid: str, task_id: str) -> int:
    return max(t["try_number"] for t in stack.api.task_instances(TOOLS, rid) if t["task_id"] == task_id)


def _readme_block(starts_with: str) -> str:
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for block in text.split("```bash\n")[1:]:
        body = block.split("```", 1)[0]
        if body.lstrip().startswith(starts_with):
            return body
    raise AssertionError(f"README has no bash block starting with {starts_with!r}")


def test_g_readme_commands_work_as_written(fresh: LocalStack) -> None:
    env = fresh.env()
    conns = _readme_block("airflow connections add")
    out = subprocess.run(["bash", "-ec", conns], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for conn in ("flywheel_nemo", "flywheel_es"):  # the environment's connections keep precedence
        fresh.run_cli(["airflow", "connections", "delete", conn])
    curl = _readme_block("TOKEN=$(curl").replace("http://127.0.0.1:8080", fresh.api_url)
    curl = curl.replace("<password>", fresh.admin_password)
    out = subprocess.run(["bash", "-ec", curl], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '"dag_run_id"' in out.stdout, out.stdout + out.stderr
    rest_run = json.loads(out.stdout)["dag_run_id"]
    cli_line = re.search(
        r"`(airflow dags trigger [^`]+)`", (Path(__file__).resolve().parents[3] / "README.md").read_text()
    ).group(1)
    out = subprocess.run(["bash", "-ec", cli_line], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for run in fresh.api.http.get(f"/dags/{TOOLS}/dagRuns", params={"limit": 100}).json()["dag_runs"]:
        if run["state"] in ("queued", "running"):
            assert fresh.api.set_run_state(TOOLS, run["dag_run_id"], "failed").status_code == 200
    assert fresh.api.run(TOOLS, rest_run)["conf"] == {"nims": [SMALL], "eval_size": 50}
    _wait(lambda: fresh.stats()["live_deployments"] == 0, 90, "no live deployment after cancelling runs")
