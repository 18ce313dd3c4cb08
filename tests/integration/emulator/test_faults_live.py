"""Each fault kind, injected at run time, observable through the HTTP API of the running emulator."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.unit.emulator.records import tool_calling_config, tool_record

from .conftest import FAST, Emulator, run_emulator, wait_for
from .seed import customization_job, deploy, deployment_status, seed_workload

pytestmark = pytest.mark.integration
NS = "faults"
SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"


def test_http_error_burst_429_and_latency(emu: Emulator) -> None:
    emu.faults(
        [
            {"kind": "http_error", "endpoint": "namespaces.*", "status": 503, "count": 2},
            {"kind": "http_error", "endpoint": "datasets.list", "status": 429},
            {"kind": "latency", "endpoint": "customization.targets.list", "seconds": 1.5, "count": 1},
        ]
    )
    codes = [emu.http.get(f"/v1/namespaces/{n}").status_code for n in ("a", "b", "c")]
    assert codes == [503, 503, 404]  # burst of two, then the real answer
    r = emu.http.get("/v1/datasets")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and "Injected" in r.json()["detail"]
    with pytest.raises(httpx.ReadTimeout):
        emu.http.get("/v1/customization/targets", timeout=0.5)
    assert emu.http.get("/v1/customization/targets", timeout=5).status_code == 200  # count used up
    assert emu.call("GET", "/emulator/faults")[0]["kind"] == "http_error"
    assert emu.stats()["faults_fired"] == {"http_error": 3, "latency": 1}


def test_http_fault_restricted_to_one_model(emu: Emulator) -> None:
    emu.faults([{"kind": "http_error", "endpoint": "nim.chat", "status": 500, "model": "meta/llama-3.3-70b-instruct"}])
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert (
        emu.http.post("/v1/chat/completions", json={**body, "model": "meta/llama-3.3-70b-instruct"}).status_code == 500
    )
    emu.call("POST", "/emulator/faults", json=[{"kind": "meteor"}], expect=422)
    emu.call("DELETE", "/emulator/faults")
    assert emu.call("POST", "/v1/chat/completions", json={**body, "model": "meta/llama-3.3-70b-instruct"})["choices"]


def test_stuck_and_failed_deployments(emu: Emulator) -> None:
    emu.faults(
        [
            {"kind": "stuck", "job": "deployment", "model": LARGE},
            {"kind": "job_failure", "job": "deployment", "model": SMALL},
        ]
    )
    deploy(emu, NS, LARGE)
    deploy(emu, NS, SMALL)
    wait_for(lambda: deployment_status(emu, NS, SMALL) == "failed", what="deployment failed")
    assert deployment_status(emu, NS, LARGE) == "pending"
    emu.call("DELETE", "/emulator/faults")  # un-stick: it proceeds to ready
    wait_for(lambda: deployment_status(emu, NS, LARGE) == "ready", what="deployment ready after un-stick")
    again = emu.http.post(
        "/v1/deployment/model-deployments",
        json={"name": LARGE.replace("/", "-"), "namespace": NS, "config": {"model": LARGE}},
    )
    assert again.status_code == 409 and "model deployment already exists" in again.text


def _wait_customization(emu: Emulator, job_id: str, statuses: set[str]) -> dict:
    return wait_for(
        lambda: (s := emu.call("GET", f"/v1/customization/jobs/{job_id}/status"))["status"] in statuses and s,
        what=f"customization {statuses}",
    )


def test_customization_failure_for_one_model_only_and_never_sync(emu: Emulator) -> None:
    seed_workload(emu, NS, [tool_record(i) for i in range(40)])
    emu.faults(
        [
            {
                "kind": "job_failure",
                "job": "customization",
                "model": LARGE,
                "at_percent": 40,
                "message": "CUDA out of memory",
            },
            {"kind": "never_sync", "model": SMALL},
        ]
    )
    deploy(emu, NS, SMALL)
    ok, bad = customization_job(emu, NS, SMALL), customization_job(emu, NS, LARGE)
    failed = _wait_customization(emu, bad["id"], {"failed", "completed"})
    assert failed["status"] == "failed" and failed["status_logs"][-1]["detail"] == "CUDA out of memory"
    assert failed["percentage_done"] == 40
    done = _wait_customization(emu, ok["id"], {"failed", "completed"})
    assert done["status"] == "completed"
    wait_for(lambda: deployment_status(emu, NS, SMALL) == "ready", what="base ready")
    assert ok["output_model"] not in emu.served()  # never syncs while the fault is active
    emu.call("DELETE", "/emulator/faults")
    wait_for(lambda: ok["output_model"] in emu.served(), what="adapter synced once the fault is gone")


def test_slow_customization_can_be_cancelled_and_evaluation_failure(emu: Emulator) -> None:
    urls = seed_workload(emu, NS, [tool_record(i) for i in range(40)])
    emu.faults(
        [
            {"kind": "slow_job", "job": "customization", "seconds": 300},
            {"kind": "job_failure", "job": "evaluation", "model": "meta/llama-3.3-70b-instruct", "at_percent": 50},
        ]
    )
    job = customization_job(emu, NS, SMALL)
    running = _wait_customization(emu, job["id"], {"running"})
    assert running["percentage_done"] < 5
    cancelled = emu.call("POST", f"/v1/customization/jobs/{job['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    emu.call("POST", f"/v1/customization/jobs/{job['id']}/cancel", expect=409)
    ev = emu.call(
        "POST",
        "/v1/evaluation/jobs",
        json={
            "config": tool_calling_config(urls["eval"]),
            "target": {"type": "model", "model": "meta/llama-3.3-70b-instruct"},
        },
    )
    final = wait_for(
        lambda: (j := emu.call("GET", f"/v1/evaluation/jobs/{ev['id']}"))["status"] in ("failed", "completed") and j,
        what="evaluation finished",
    )
    assert final["status"] == "failed" and "injected" in final["status_details"]["message"]
    emu.call("GET", f"/v1/evaluation/jobs/{ev['id']}/results", expect=404)
    assert emu.stats()["jobs"] == {"customization": {"cancelled": 1}, "evaluation": {"failed": 1}}


def test_faults_from_the_env_config_file(tmp_path: Path) -> None:
    import yaml

    cfg = tmp_path / "faults.yaml"
    cfg.write_text(
        yaml.safe_dump({**FAST, "faults": [{"kind": "http_error", "endpoint": "nim.models", "status": 502}]})
    )
    with run_emulator(tmp_path, None, args=("--gpus", "1"), env={"FLYWHEEL_EMULATOR_CONFIG": str(cfg)}) as emu:
        assert emu.http.get("/v1/models").status_code == 502
        assert emu.stats()["gpus_total"] == 1
