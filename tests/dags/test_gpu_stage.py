"""The GPU stage as the scheduler sees it (docs/contracts.md#the-gpu-lease): ``deploy_nim`` in pool
``flywheel_gpu`` with the GPUs of the workload's largest deployed NIM as pool slots (capped by the budget) and
the workload's priority as an absolute priority weight, read from the serialized DAG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.serialization.serialized_objects import DagSerialization

from flywheel.airflow.dag_factory import build_all
from flywheel.run import spec

DEPLOY = f"{spec.GROUP}.{spec.DEPLOY}"


@pytest.fixture(scope="module")
def serialized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("gpu_stage")
    cfg = {
        "log_source": {"kind": "file", "path": str(tmp / "logs.jsonl")},
        "platform": {"gpu_budget": 2},
        "nims": [
            {"model_name": "meta/llama-3.1-8b-instruct", "gpus": 2},
            {"model_name": "meta/llama-3.2-1b-instruct"},
            # served elsewhere: deploys nothing, so its GPUs do not size the stage
            {"model_name": "meta/llama-3.3-70b-instruct", "gpus": 2, "served_url": "http://127.0.0.1:9/v1"},
        ],
        "workloads": [
            {"workload_id": "urgent", "priority": 7},
            {"workload_id": "small", "nims": ["meta/llama-3.2-1b-instruct", "meta/llama-3.3-70b-instruct"]},
        ],
    }
    path = tmp / "flywheel.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return {dag_id: DagSerialization.to_dict(dag) for dag_id, dag in build_all(str(path)).items()}


def task_dict(data: dict[str, Any], task_id: str) -> dict[str, Any]:
    (found,) = (t["__var"] for t in data["dag"]["tasks"] if t["__var"]["task_id"] == task_id)
    return found


def test_deploy_takes_the_largest_nims_gpus_and_the_workloads_priority(serialized):
    data = serialized["flywheel_urgent"]
    raw = task_dict(data, DEPLOY)
    stage = (raw["pool"], raw["pool_slots"], raw["priority_weight"], raw["weight_rule"])
    assert stage == ("flywheel_gpu", 2, 7, "absolute")
    deploy = DagSerialization.from_dict(data).get_task(DEPLOY)  # what the scheduler reads
    assert (deploy.pool, deploy.pool_slots, deploy.priority_weight) == ("flywheel_gpu", 2, 7)


def test_defaults_one_slot_priority_one_and_served_nims_do_not_count(serialized):
    data = serialized["flywheel_small"]
    raw = task_dict(data, DEPLOY)
    assert (raw["pool"], raw["weight_rule"]) == ("flywheel_gpu", "absolute")
    deploy = DagSerialization.from_dict(data).get_task(DEPLOY)
    assert (deploy.pool_slots, deploy.priority_weight) == (1, 1)


def test_only_deploy_holds_the_gpu_pool(serialized):
    for data in serialized.values():
        pooled = [t["__var"]["task_id"] for t in data["dag"]["tasks"] if t["__var"].get("pool") == "flywheel_gpu"]
        assert pooled == [DEPLOY]
