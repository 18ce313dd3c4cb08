"""sweep_run against the running emulator: it deletes this run's candidate deployment and cancels its
running customization, and leaves other runs' and shared NIMs alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flywheel.airflow.cleanup import sweep_run
from flywheel.config import CustomizerConfig, LoraConfig, NimConfig, TrainingConfig
from flywheel.platforms.core.configs import customization_job

from .conftest import Emulator
from .records import dataset_files, tool_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
SMALL = NimConfig(
    model_name="meta/llama-3.2-1b-instruct",
    customization_enabled=True,
    customizer=CustomizerConfig(target="meta/llama-3.2-1b-instruct@2.0"),
)
LARGE = NimConfig(model_name="meta/llama-3.2-3b-instruct")
SHARED = NimConfig(model_name="nvidia/nv-embedqa-e5-v5")


def test_sweep_removes_only_what_this_run_left(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_NEMO", json.dumps({"conn_type": "http", "host": emulator.url}))
    config = tmp_path / "flywheel.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "workloads": [{"workload_id": "orders"}],
                "nims": [{"model_name": SMALL.model_name}],
                "platform": {"max_retries": 1},
            }
        )
    )
    emulator.set_faults([{"kind": "slow_job", "job": "customization", "seconds": 60}])
    with emulator.client() as c:
        c.ensure_namespace()
        for kind, files in dataset_files(tmp_path, tool_record).items():
            c.upload_dataset(f"flywheel-{kind}-sw", files)
        c.create_deployment(SMALL, {"flywheel_role": "candidate", "flywheel_run": "flywheel_orders/r1"})
        c.create_deployment(LARGE, {"flywheel_role": "candidate", "flywheel_run": "flywheel_orders/r2"})
        c.create_deployment(SHARED, {"flywheel_role": "embedding"})
        ref = c.ensure_customization_config(SMALL, TrainingConfig())
        mine, _ = c.create_customization(
            customization_job(
                "orders", "r1-0", SMALL, ref, "flywheel-train-sw", "dfwbp", TrainingConfig(), LoraConfig()
            )
        )
        theirs, _ = c.create_customization(
            customization_job(
                "orders", "r2-0", SMALL, ref, "flywheel-train-sw", "dfwbp", TrainingConfig(), LoraConfig()
            )
        )
    swept = sweep_run(str(config), "flywheel_orders", "orders", "r1")
    assert swept == {"deleted": [SMALL.deployment_name], "cancelled": [mine]}
    with emulator.client() as c:
        assert c.get_deployment(SMALL.deployment_name) is None
        assert c.get_deployment(LARGE.deployment_name) is not None
        assert c.get_deployment(SHARED.deployment_name) is not None
        assert c.get_customization(mine).status == "cancelled"
        assert not c.get_customization(theirs).terminal
    assert sweep_run(str(config), "flywheel_orders", "orders", "r1") == {"deleted": [], "cancelled": []}
