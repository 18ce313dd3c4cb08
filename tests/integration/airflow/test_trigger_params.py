"""Trigger Params through the real REST API (api-server, dag-processor and scheduler of a LocalStack): what
makes no sense is a 400 at trigger time and no run is created."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.waiting import wait_for

from .stack import ROOT, make_stack, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
DAG = "flywheel_customer_service"
TWICE = "same_nim_twice"  # a workload whose config is broken: its DAG is dropped, the others stay


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("params-stack")
    config = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    logs = work / "logs.jsonl"
    logs.write_text("")
    config["log_source"] = {"kind": "file", "path": str(logs)}
    config.setdefault("defaults", {})["schedule"] = None
    small = config["nims"][0]["model_name"]
    config["workloads"].append(
        {"workload_id": TWICE, "client_id": "twice", "workload_type": "classification", "nims": [small, small]}
    )
    s = make_stack(work, config)
    with running(s, DAG):
        yield s


def refused(stack: LocalStack, conf: dict[str, Any]) -> Any:
    rid = f"bad-{uuid.uuid4().hex[:8]}"
    r = stack.api.trigger(DAG, conf, rid)
    assert r.status_code == 400, (conf if len(str(conf)) < 200 else "(huge)", r.status_code, r.text[:300])
    assert stack.api.http.get(f"/dags/{DAG}/dagRuns/{rid}").status_code == 404, "a run was created"
    return r


@pytest.mark.parametrize(
    "conf",
    [
        {"eval_size": 10.0},
        {"eval_size": 1e30},
        {"eval_size": 10**9},
        {"random_seed": -1},
        {"epochs": 1000},
        {"limit": 2.5},
        {"lora_adapter_dim": 64.0},
    ],
    ids=["eval_size_10.0", "eval_size_1e30", "eval_size_1e9", "seed_-1", "epochs_1000", "limit_2.5", "dim_64.0"],
)
def test_integers_are_integers_with_upper_bounds(stack: LocalStack, conf: dict[str, Any]) -> None:
    r = refused(stack, conf)
    assert f"Invalid input for param {next(iter(conf))}" in r.text, r.text[:300]


def test_a_huge_value_is_not_echoed(stack: LocalStack) -> None:
    r = refused(stack, {"since": "9" * 2**20})
    assert len(r.content) < 4096, f"a {len(r.content)}-byte reply"


def test_the_same_nim_twice_drops_only_that_workload(stack: LocalStack) -> None:
    """It used to make flywheel.py fail to import (ParamValidationError: non-unique elements): every DAG gone.
    Now the dag-processor builds the other workloads' DAGs (this module's tests trigger one of them) and
    flywheel_config_errors.py names the broken one."""
    config = yaml.safe_load(stack.config_path.read_text())
    small = config["nims"][0]["model_name"]

    def errors() -> list[dict[str, Any]] | None:
        r = stack.api.http.get("/importErrors")
        r.raise_for_status()
        found = r.json()["import_errors"]
        return found or None

    found = wait_for(errors, timeout=120, what="the config error as an import error", interval=1.0)
    assert [Path(e["filename"]).name for e in found] == ["flywheel_config_errors.py"], found
    text = found[0]["stack_trace"]
    assert f"workload '{TWICE}'" in text and f"duplicate '{small}'" in text, text[-500:]
    assert stack.api.http.get(f"/dags/flywheel_{TWICE}").status_code == 404
    assert stack.api.http.get(f"/dags/{DAG}").status_code == 200
