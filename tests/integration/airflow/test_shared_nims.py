"""The NIMs outside the GPU lease under a real scheduler: a local LLM judge (deployed once, shared, never
deleted by a run) and a local embedding NIM bracketing ``build_datasets`` for semantic-similarity ICL.
The same runs store their results through connection ``flywheel_mongo`` in a MongoDB-wire-protocol server
(``nx-27017`` from PyPI), read back with the real ``pymongo``.

The emulator is started with ``hosted_shared_models: false``, so the judge and the embedding model are
served only once deployed through its DMS, exactly as on a GPU cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.mongo import mongo_server
from tests.support.waiting import wait_for

from .stack import make_stack, reset_emulator, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NIM, JUDGE, EMBEDDER = "meta/llama-3.2-1b-instruct", "meta/llama-3.3-70b-instruct", "nvidia/llama-3.2-nv-embedqa-1b-v2"
DAG = "flywheel_generic_qa"  # the sample generator's generic workload
NEWS = "flywheel_news_classifier"


def stack_config(logs: Path) -> dict[str, Any]:
    return {
        "platform": {
            "namespace": "fwshared",
            "poll_initial_s": 0.5,
            "poll_max_s": 2.0,
            "lease_poll_s": 8.0,
            "request_timeout_s": 60,
            "max_retries": 3,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "local", "model_name": JUDGE, "gpus": 1},
        "embedding": {"mode": "local", "model_name": EMBEDDER, "gpus": 1, "batch_size": 16},
        "airflow": {"retries": 0},
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 10, "min_total_records": 20, "limit": 120, "random_seed": 3},
            "icl": {"max_examples": 2, "reserved_tokens": 1024, "selection": "semantic_similarity"},
            "selection": {"approval": "off"},  # about shared NIMs: a recommendation never waits for a person
        },
        "workloads": [
            {"workload_id": "generic_qa", "client_id": "qa-1", "workload_type": "generic"},
            {"workload_id": "news_classifier", "client_id": "news-classifier", "workload_type": "classification"},
        ],
        "nims": [{"model_name": NIM, "context_length": 8192}],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("flywheel-shared")
    logs = work / "logs.jsonl"
    with logs.open("w") as out:
        for workload in ("generic", "classification"):
            part = work / f"{workload}.jsonl"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flywheel.cli",
                    "sample-data",
                    "--workload",
                    workload,
                    "--records",
                    "150",
                    "--seed",
                    "5",
                    "--out",
                    str(part),
                ],
                check=True,
                capture_output=True,
            )
            out.write(part.read_text())
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"gpus": 3, "hosted_shared_models": False}))
    mongo, conn = mongo_server(work)
    s = make_stack(
        work,
        stack_config(logs),
        emulator_args=["--config", str(emulator_cfg)],
        extra_env={"AIRFLOW_CONN_FLYWHEEL_MONGO": json.dumps(conn)},
    )
    s.mongo_url = f"mongodb://127.0.0.1:{conn['port']}"  # type: ignore[attr-defined]
    with running(s, DAG, NEWS, alongside=mongo):
        yield s


def deployments(stack: LocalStack) -> dict[str, dict[str, Any]]:
    items = stack.emulator("GET", "/v1/deployment/model-deployments")["data"]
    return {d["name"]: d for d in items}


def task_log(stack: LocalStack, rid: str, task_id: str, dag: str = DAG) -> str:
    ti = next(t for t in stack.api.task_instances(dag, rid) if t["task_id"] == task_id)
    return stack.api.log(dag, rid, task_id, ti["try_number"], ti["map_index"])


def waited_deferred(stack: LocalStack, rid: str, task_id: str) -> bool:
    """The triggerer ran a trigger for this task (its log file exists and shows the event fired)."""
    folder = stack.home / "logs" / f"dag_id={DAG}" / f"run_id={rid}" / f"task_id={task_id}"
    return any("Trigger fired event" in f.read_text() for f in folder.glob("attempt=*.log.trigger.*.log"))


def run_flywheel(stack: LocalStack, tag: str) -> tuple[str, dict[str, Any]]:
    rid = f"{tag}-{uuid.uuid4().hex[:8]}"
    r = stack.api.trigger(DAG, None, rid)
    assert r.status_code == 200, r.text
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    return rid, stack.api.xcom(DAG, rid, "report")


def test_local_judge_embedder_and_mongo_results(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    judge_name = "meta-llama-3.3-70b-instruct"
    assert JUDGE not in [m["id"] for m in stack.emulator("GET", "/v1/models")["data"]]

    rid, report = run_flywheel(stack, "first")
    results = {(r["nim"], r["experiment"]): r for r in report["results"]}
    for exp in ("base", "icl"):
        r = results[(NIM, exp)]
        assert r["status"] == "completed", r
        assert "similarity" in r["scores"] and 0.0 <= r["scores"]["similarity"] <= 1.0, r
    stats = stack.stats()
    # judge + embedder + candidate were deployed once each; only the shared judge is still there
    assert stats["jobs_created"]["deployment"] == 3, stats
    assert set(deployments(stack)) == {judge_name}, deployments(stack)
    assert stats["requests"].get("nim.embeddings", 0) >= 1, stats["requests"]
    assert "deployed judge NIM" in task_log(stack, rid, "prepare_judge")
    assert "deployed embedding NIM" in task_log(stack, rid, "prepare_embedder")
    assert "no other run uses it" in task_log(stack, rid, "teardown_embedder")
    for task_id in ("prepare_judge", "prepare_embedder", "teardown_embedder"):  # waits held no worker slot
        assert waited_deferred(stack, rid, task_id), task_id

    # the report task stored one document per result and one per run in MongoDB
    import pymongo

    with pymongo.MongoClient(stack.mongo_url, serverSelectionTimeoutMS=5000) as client:  # type: ignore[attr-defined]
        db = client["flywheel"]
        docs = list(db["results"].find({"dag_id": DAG, "run_id": rid}, {"_id": 0}))
        assert sorted((d["nim"], d["experiment"], d["status"]) for d in docs) == sorted(
            (r["nim"], r["experiment"], r["status"]) for r in report["results"]
        )
        assert db["results_runs"].count_documents({"dag_id": DAG, "run_id": rid}) == 1
        # idempotent: storing the same report again (a retried report task) adds nothing
        from flywheel.airflow.results import store_in_mongo
        from flywheel.run.models import Report

        for name in ("AIRFLOW_CONN_FLYWHEEL_MONGO", "AIRFLOW_HOME"):
            monkeypatch.setenv(name, stack.env()[name])
        stored = Report.model_validate(report)
        assert store_in_mongo("flywheel_mongo", "flywheel", "results", DAG, rid, stored) == len(docs)
        assert db["results"].count_documents({"dag_id": DAG, "run_id": rid}) == len(docs)
        assert db["results_runs"].count_documents({}) == 1

    # a second run reuses the judge (no new judge deployment) and deploys its own embedder again
    rid2, _ = run_flywheel(stack, "second")
    assert stack.stats()["jobs_created"]["deployment"] == 5
    assert "is served (deployment" in task_log(stack, rid2, "prepare_judge")
    assert not waited_deferred(stack, rid2, "prepare_judge")
    assert set(deployments(stack)) == {judge_name}

    # the deliberate way to remove the shared judge
    out = stack.run_cli(
        [
            sys.executable,
            "-m",
            "flywheel.cli",
            "judge-down",
            "--nemo-url",
            stack.emulator_url,
            "--config",
            str(stack.config_path),
        ]
    )
    assert out.strip() == f"deleted fwshared/{judge_name}"
    assert deployments(stack) == {} and stack.stats()["live_deployments"] == 0


def test_last_run_out_deletes_the_shared_embedder(stack: LocalStack) -> None:
    """Two workloads share the embedder; one build is held up by a slow embeddings call, so the other
    run's teardown must keep the deployment and the slow run's teardown deletes it."""
    reset_emulator(stack, [{"kind": "latency", "endpoint": "nim.embeddings", "seconds": 30, "count": 1}])
    rids = {}
    for dag in (DAG, NEWS):
        rids[dag] = f"share-{uuid.uuid4().hex[:8]}"
        r = stack.api.trigger(dag, None, rids[dag])
        assert r.status_code == 200, r.text
    for dag, rid in rids.items():
        assert stack.api.wait_run(dag, rid) == "success", stack.api.task_states(dag, rid)
    logs = [task_log(stack, rid, "teardown_embedder", dag) for dag, rid in rids.items()]
    assert sum("the last run out deletes it" in log for log in logs) == 1, logs
    assert sum("no other run uses it" in log for log in logs) == 1, logs
    stats = stack.stats()
    assert stats["faults_fired"].get("latency") == 1, stats
    assert "nvidia-llama-3.2-nv-embedqa-1b-v2" not in deployments(stack)
    assert stats["jobs_created"]["deployment"] >= 3  # embedder (once or twice), judge, candidates


def test_embedder_deleted_during_the_wait_is_deployed_again(stack: LocalStack) -> None:
    """Another run's teardown may delete the embedder while this run's prepare waits for it: the prepare
    deploys it again instead of failing (this stack runs without task retries, so a failure would show)."""
    reset_emulator(stack, [{"kind": "stuck", "job": "deployment", "model": EMBEDDER}])
    rid = f"redeploy-{uuid.uuid4().hex[:8]}"
    assert stack.api.trigger(DAG, None, rid).status_code == 200
    wait_for(
        lambda: stack.api.task_states(DAG, rid).get("prepare_embedder[-1]") == "deferred",
        240,
        "prepare_embedder waiting deferred",
        interval=0.5,
    )
    name = "nvidia-llama-3.2-nv-embedqa-1b-v2"
    assert deployments(stack)[name]["status_details"]["status"] == "pending"
    stack.emulator("DELETE", f"/v1/deployment/model-deployments/fwshared/{name}")
    stack.emulator("DELETE", "/emulator/faults")
    assert stack.api.wait_run(DAG, rid) == "success", stack.api.task_states(DAG, rid)
    assert "deploying it again" in task_log(stack, rid, "prepare_embedder")
    assert stack.stats()["jobs_created"]["deployment"] == 4  # the embedder twice, the judge, the candidate
    assert name not in deployments(stack)  # the only run out deleted it
