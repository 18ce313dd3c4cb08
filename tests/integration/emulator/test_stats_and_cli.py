"""GPU capacity, the lease statistics, reset, and the command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import FLYWHEEL, Emulator, run_emulator, wait_for
from .seed import deploy, deployment_status

pytestmark = pytest.mark.integration
NS = "stats"
A, B, C = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct", "meta/llama-3.1-8b-instruct"


def test_capacity_and_maxima(emu: Emulator) -> None:
    deploy(emu, NS, A)
    deploy(emu, NS, B)
    deploy(emu, NS, C)  # third GPU does not exist: stays pending
    wait_for(lambda: deployment_status(emu, NS, A) == deployment_status(emu, NS, B) == "ready", what="two ready")
    assert deployment_status(emu, NS, C) == "pending"
    s = emu.stats()
    assert (s["gpus_in_use"], s["max_gpus_in_use"], s["live_deployments"]) == (2, 2, 3)
    assert s["live_flywheel_deployments"] == 3 and s["max_live_flywheel_deployments"] == 3
    emu.call("DELETE", f"/v1/deployment/model-deployments/{NS}/{A.replace('/', '-')}")
    wait_for(lambda: deployment_status(emu, NS, C) == "ready", what="pending deployment gets the freed GPU")
    s = emu.stats()
    assert s["max_gpus_in_use"] == 2 and s["live_flywheel_deployments"] == 2
    assert s["jobs_created"]["deployment"] == 3 and s["requests"]["deployments.create"] == 3
    emu.call("POST", "/emulator/reset")
    s = emu.stats()
    assert s["live_deployments"] == s["max_gpus_in_use"] == s["max_live_flywheel_deployments"] == 0


def test_sequential_candidates_and_shared_deployments(emu: Emulator) -> None:
    deploy(emu, NS, "meta/llama-3.3-70b-instruct", gpus=1, candidate=False)  # e.g. a shared judge: not counted
    for model in (A, B):
        deploy(emu, NS, model)
        wait_for(lambda m=model: deployment_status(emu, NS, m) == "ready", what="ready")
        emu.call("DELETE", f"/v1/deployment/model-deployments/{NS}/{model.replace('/', '-')}")
    s = emu.stats()
    assert s["max_live_flywheel_deployments"] == 1 and s["live_flywheel_deployments"] == 0
    assert s["live_deployments"] == 1 and s["max_gpus_in_use"] == 2


def test_cli_rejects_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: many\n")
    out = subprocess.run([FLYWHEEL, "emulator", "--config", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "gpus" in out.stderr


def test_reset_max_restarts_the_maxima_from_what_is_in_use(emu: Emulator) -> None:
    deploy(emu, NS, A)
    deploy(emu, NS, B)
    wait_for(lambda: deployment_status(emu, NS, A) == deployment_status(emu, NS, B) == "ready", what="two ready")
    emu.call("DELETE", f"/v1/deployment/model-deployments/{NS}/{A.replace('/', '-')}")
    assert emu.stats()["max_gpus_in_use"] == 2
    s = emu.call("POST", "/emulator/stats/reset-max")
    assert (s["gpus_in_use"], s["max_gpus_in_use"], s["max_live_flywheel_deployments"]) == (1, 1, 1)
    assert emu.stats()["max_gpus_in_use"] == 1 and deployment_status(emu, NS, B) == "ready"


def test_helix_deployment_waits_for_gpus_like_a_cluster(emu: Emulator) -> None:
    ws = "/apis/models/v2/workspaces/stats"
    deploy(emu, NS, A)  # one of the two GPUs, taken through DMS
    config = {
        "name": "big-config",
        "engine": "nim",
        "model_spec": {"model_namespace": "meta", "model_name": "llama-3.1-8b-instruct"},
        "executor_config": {"gpu": 2},
    }
    emu.call("POST", f"{ws}/deployment-configs", json=config, expect=201)
    emu.call("POST", f"{ws}/deployments", json={"name": "big", "config": "big-config"}, expect=201)
    wait_for(lambda: emu.call("GET", f"{ws}/deployments/big")["status"] == "PENDING", what="PENDING")
    wait_for(lambda: deployment_status(emu, NS, A) == "ready", what="the DMS deployment ready")
    big = emu.call("GET", f"{ws}/deployments/big")
    assert big["status"] == "PENDING" and "needs 2 GPU(s), 1 of 2 free" in big["status_message"]
    assert (emu.stats()["pending_deployments"], emu.stats()["gpus_in_use"]) == (1, 1)
    emu.call("DELETE", f"/v1/deployment/model-deployments/{NS}/{A.replace('/', '-')}")
    wait_for(lambda: emu.call("GET", f"{ws}/deployments/big")["status"] == "READY", what="READY on the freed GPUs")
    assert emu.stats()["pending_deployments"] == 0 and emu.stats()["max_gpus_in_use"] == 2


def test_gpu_count_from_env_and_flag(tmp_path: Path) -> None:
    with run_emulator(tmp_path, None, env={"EMULATOR_GPUS": "3"}) as emu:
        assert emu.stats()["gpus_total"] == 3
    with run_emulator(tmp_path, None, args=("--gpus", "1"), env={"EMULATOR_GPUS": "3"}) as emu:
        assert emu.stats()["gpus_total"] == 1
    out = subprocess.run(
        [FLYWHEEL, "emulator"], capture_output=True, text=True, timeout=60, env={**os.environ, "EMULATOR_GPUS": "x"}
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "EMULATOR_GPUS" in out.stderr
