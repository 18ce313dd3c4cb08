"""A whole flywheel DAG on NeMo Helix under the real Airflow scheduler (``platform.kind: helix``).

Workspaces, filesets, providers, the inference gateway and the evaluation jobs are the real Helix
services; the flywheel emulator stands in only for what needs a GPU cluster: the v2 deployment routes
and the NIM that answers (registered as a Helix provider when its deployment is READY). The same DAG
the NMP tests run, unchanged; Helix's own API is the witness.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flywheel.localstack.helix import HelixServices, redacted_kinds, teach_stand_in
from flywheel.localstack.stack import LocalStack
from flywheel.platforms.helix.client import HelixClient
from flywheel.platforms.helix.payloads import served_secret_name
from flywheel.platforms.helix.scores import aggregates, read_scores
from flywheel.platforms.marks import read_marks
from tests.integration.airflow.stack import assert_not_in_run, make_stack, reset_emulator, running
from tests.integration.airflow.test_flywheel_dags import make_logs
from tests.support.waiting import wait_for

from .helpers import active_jobs, list_files
from .helpers import secret as secret_meta

pytestmark = [pytest.mark.helix, pytest.mark.integration, pytest.mark.timeout(900)]

SMALL = "meta/llama-3.2-1b-instruct"
SERVED = "meta/llama-3.3-70b-instruct"  # already served elsewhere (the emulator's hosted model)
SERVED_KEY = "sk-served-" + uuid.uuid4().hex  # which that model answers only with, like a hosted API
TOOLS = "flywheel_customer_service"
WS = "fwhelix"


def helix_config(logs: Path, served_url: str) -> dict[str, Any]:
    return {
        "platform": {
            "kind": "helix",
            "namespace": WS,
            "poll_initial_s": 1.0,
            "poll_max_s": 3.0,
            "lease_poll_s": 8.0,
            "deployment_pending_timeout_s": 120,
            "request_timeout_s": 30,
            "max_retries": 3,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "none"},
        "airflow": {"retries": 1, "retry_delay_s": 1},
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 12, "min_total_records": 20, "limit": 200, "random_seed": 7},
            "icl": {"max_examples": 2, "reserved_tokens": 1024},
            "selection": {"approval": "auto", "min_quality": 0.05},
        },
        "workloads": [{"workload_id": "customer_service", "client_id": "aiva-1", "workload_type": "tool_calling"}],
        "nims": [
            {
                "model_name": SMALL,
                "context_length": 8192,
                "customization_enabled": True,
                "customizer": {"target": f"{SMALL}@2.0", "gpus": 1},
            },
            {"model_name": SERVED, "context_length": 8192, "served_url": served_url, "served_conn_id": "served_70b"},
        ],
    }


@pytest.fixture(scope="module")
def stack(helix: HelixServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    work = tmp_path_factory.mktemp("flywheel-helix-stack")
    logs = work / "logs.jsonl"
    make_logs(logs)
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"judge_api_key": SERVED_KEY}))
    s = make_stack(work, helix_config(logs, "http://127.0.0.1:9"), emulator_args=["--config", str(emulator_cfg)])
    # the served candidate answers at the emulator, whose port the stack has just chosen
    s.config_path.write_text(yaml.safe_dump(helix_config(logs, s.emulator_url), sort_keys=False))
    conn = {
        "conn_type": "http",
        "host": helix.url,
        "extra": {"namespace": WS, "gpu_url": s.emulator_url, "provider_url": s.emulator_url},
    }
    s.extra_env["AIRFLOW_CONN_FLYWHEEL_NEMO"] = json.dumps(conn)
    s.extra_env["AIRFLOW_CONN_SERVED_70B"] = json.dumps({"conn_type": "http", "password": SERVED_KEY})
    s.run_cli(["flywheel", "check-config", str(s.config_path)])
    with running(s, TOOLS):
        yield s


@pytest.fixture
def hx(helix: HelixServices, stack: LocalStack) -> Iterator[HelixClient]:
    reset_emulator(stack)
    config = yaml.safe_load(stack.config_path.read_text())
    teach_stand_in(stack.emulator_url, stack.workdir / "logs.jsonl", pii_kinds=redacted_kinds(config))
    with HelixClient(helix.url, WS, gpu_base_url=stack.emulator_url) as c:
        c.ensure_workspace("flywheel")  # what a run's first task does; a test may need it before that
        yield c


def why(stack: LocalStack, dag_id: str, rid: str) -> str:
    """Failed task instances with the tail of their logs (what a red run needs to be understood)."""
    out = [str(stack.api.task_states(dag_id, rid))]
    for ti in stack.api.task_instances(dag_id, rid):
        if ti["state"] == "failed":
            for attempt in range(1, max(ti["try_number"], 1) + 1):
                try:
                    log = stack.api.log(dag_id, rid, ti["task_id"], attempt, ti["map_index"])
                except Exception as exc:  # a try without a log must not hide the others
                    log = f"(no log: {exc})"
                out.append(f"== {ti['task_id']}[{ti['map_index']}] try {attempt}\n{log[-4000:]}")
    return "\n".join(out)


def ours(client: HelixClient) -> dict[str, list[str]]:
    """What the flywheel left on the platform: unfinished jobs, deployments, providers with our marks."""
    return {
        "active_jobs": [j["name"] for j in active_jobs(client)],
        "deployments": [d.name for d in client.deployments()],
        "providers": [p["name"] for p in client.providers() if read_marks(p.get("description")) is not None],
    }


def test_a_tool_calling_run_is_evaluated_by_real_helix(stack: LocalStack, hx: HelixClient, helix) -> None:
    rid = f"helix-{uuid.uuid4().hex[:8]}"
    assert stack.api.trigger(TOOLS, {"customization_enabled": True}, rid).status_code == 200
    state = stack.api.wait_run(TOOLS, rid, timeout=600)
    assert state == "success", why(stack, TOOLS, rid)
    report = stack.api.xcom(TOOLS, rid, "report")
    results = {(r["nim"], r["experiment"]): r for r in report["results"]}
    jobs_api = f"{helix.url}/apis/jobs/v2/workspaces/{WS}/jobs"
    plans = [p["model_name"] for p in stack.api.xcom(TOOLS, rid, "select_nims")]
    customized = stack.api.xcom(TOOLS, rid, "nim_experiment.customize", map_index=plans.index(SMALL))
    adapter = customized["output_model"]
    assert "&adapters/" in adapter and adapter.startswith(f"{WS}/"), customized
    for experiment in ("base", "icl", "customized"):
        entry = results[(SMALL, experiment)]
        assert entry["status"] == "completed", entry
        job = entry["job_id"]
        # Helix's own services ran the job and hold the scores we report
        assert httpx.get(f"{jobs_api}/{job}", timeout=10).json()["status"] == "completed"
        assert hx.evaluation_state(job).status == "completed"
        result = hx.eval_result(job)
        assert result["row_count"] == report["datasets"]["eval"]["records"] == 12
        assert entry["scores"] == read_scores("tool_calling", result), (experiment, result)
        assert entry["scores"]["function_name_accuracy"] > 0, entry  # the candidate answered with tool calls
        # the tools take different arguments, so Helix's dataset table fills absent ones with nulls; the
        # reference must drop them or no answer's arguments ever match
        means = {k: v["mean"] for k, v in aggregates(result).items()}
        assert (
            entry["scores"]["function_name_and_args_accuracy"] == means["tool-calling.function_name_and_args_accuracy"]
        )
        assert 0 < entry["scores"]["function_name_and_args_accuracy"] <= entry["scores"]["function_name_accuracy"]
        if "correctness" in entry["scores"]:  # the judge rates each row, not every row 1
            assert entry["scores"]["correctness"] <= entry["scores"]["function_name_accuracy"], entry
        target = hx.evaluation_job(job)["spec"]["target"]
        assert target["name"].startswith(f"{WS}/") and "/inference-gateway/" in target["url"], target
        # latency was measured through the gateway, for the adapter too
        assert entry["latency"]["requests"] > 0 and entry["latency"]["errors"] == 0, entry
    # the customized experiment evaluated the adapter the automodel job produced, through the gateway
    assert hx.evaluation_job(results[(SMALL, "customized")]["job_id"])["spec"]["target"]["name"] == adapter
    assert hx.customization_state(customized["job_id"]).status == "completed"
    # the candidate served elsewhere was evaluated through a provider of ours: no deployment, no GPU lease;
    # it answers only with its key, which the gateway sent from a workspace secret our provider named
    for experiment in ("base", "icl"):
        entry = results[(SERVED, experiment)]
        assert entry["status"] == "completed" and entry["scores"]["function_name_accuracy"] > 0, entry
        assert entry["latency"]["requests"] > 0 and entry["latency"]["errors"] == 0, entry
        job = hx.evaluation_job(entry["job_id"])
        target = job["spec"]["target"]
        assert target["name"] == f"{WS}/meta-llama-3-3-70b-instruct" and "/inference-gateway/" in target["url"]
        assert SERVED_KEY not in json.dumps(job)
    secret = served_secret_name(stack.emulator_url, SERVED)
    assert secret_meta(hx, secret) is not None  # kept for the next run, like the judge's
    assert_not_in_run(stack, TOOLS, rid, SERVED_KEY, report)
    assert results[(SERVED, "customized")]["status"] == "skipped"
    assert stack.emulator("GET", "/emulator/stats")["jobs_created"]["deployment"] == 1  # SMALL's only
    served_deploy = stack.api.xcom(TOOLS, rid, "nim_experiment.deploy_nim", map_index=plans.index(SERVED))
    assert served_deploy["deployment"] is None and served_deploy["served_url"] == stack.emulator_url
    # datasets are Helix filesets of our workspace
    eval_set = stack.api.xcom(TOOLS, rid, "upload_datasets")["eval"]["files_url"]
    assert eval_set.startswith(f"{WS}/") and list_files(hx, eval_set.split("/", 1)[1]) == ["eval_data.jsonl"]
    assert ours(hx) == {"active_jobs": [], "deployments": [], "providers": []}
    # approval auto: the recommendation is promoted; a customized winner is marked on Helix
    audit = stack.api.xcom(TOOLS, rid, "promote", key="audit")
    assert audit["decision"]["status"] == "auto", audit
    base_entity = adapter.split("&adapters/", 1)[0]
    fields = hx.model_entity(hx.workspace, base_entity.split("/", 1)[1]) or {}
    marks = (fields.get("custom_fields") or {}).get("flywheel_adapters") or {}
    if audit["decision"]["experiment"] == "customized":
        assert audit["platform_mark"]["marked"] and audit["model_id"] == adapter, audit
        assert marks[adapter]["flywheel_promoted_run"] == f"{TOOLS}/{rid}", marks
    else:
        assert audit["platform_mark"]["marked"] is False and adapter not in marks, (audit, marks)


def test_b_mark_failed_while_helix_evaluates_cancels_and_leaves_nothing(
    stack: LocalStack, hx: HelixClient, helix
) -> None:
    # a provider someone else registered stays; ours goes with its deployment
    foreign = {"name": "not-ours", "host_url": stack.emulator_url, "enabled_models": ["meta/llama-3.2-3b-instruct"]}
    hx.register_provider(foreign)
    rid = f"helix-cancel-{uuid.uuid4().hex[:8]}"
    assert stack.api.trigger(TOOLS, {"customization_enabled": True}, rid).status_code == 200

    def automodel() -> list[dict[str, Any]]:
        return stack.emulator("GET", f"/apis/customization/v2/workspaces/{WS}/automodel/jobs")["data"]

    wait_for(lambda: (active_jobs(hx) and automodel()) or None, 300, "Helix evaluating, LoRA job made", interval=0.5)
    running = [j["name"] for j in active_jobs(hx)]
    assert stack.api.set_run_state(TOOLS, rid, "failed").status_code == 200
    assert stack.api.wait_run(TOOLS, rid, timeout=300) == "failed", stack.api.task_states(TOOLS, rid)
    deadline = time.monotonic() + 120
    while ours(hx) != {"active_jobs": [], "deployments": [], "providers": []} and time.monotonic() < deadline:
        time.sleep(1)
    assert ours(hx) == {"active_jobs": [], "deployments": [], "providers": []}
    # every job we stopped was cancelled, or had just completed, never `error` (Helix 0.8.1 ends a cancelled job
    # `error` once older than ttl_seconds_before_active: 60 s did that in 2 of 15 runs; our config allows 900 s)
    ended = {j: hx.evaluation_state(j).status for j in running}
    assert set(ended.values()) <= {"cancelled", "completed"} and "cancelled" in ended.values(), ended
    assert [p["name"] for p in hx.providers()] == ["not-ours"]
    # the automodel job (on the stand-in cluster) was stopped or had finished, never left running
    assert {j["status"] for j in automodel()} <= {"cancelled", "completed"}, automodel()
    hx.delete_provider("not-ours", only_ours=False)
