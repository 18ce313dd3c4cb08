"""The GPU budget under a real scheduler (docs/contracts.md#the-gpu-lease): budget 2, an emulator of 2 GPUs.

Two workloads triggered at once deploy their candidates two at a time: the emulator's most GPUs in use reaches
the budget and never exceeds it, both runs succeed and nothing is left live. The pool ``flywheel_gpu`` comes
from ``flywheel pools --write`` for the config's budget. The emulator's customization jobs claim no GPUs of
their own: the lease counts a customization job within its deployment's GPUs (a claim of their own would
leave every job pending behind the deployments that wait for it).
"""

from __future__ import annotations

import functools
import os
import signal
import uuid
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.waiting import wait_for

from .leaks import leak_check
from .stack import make_stack, reset_emulator, running
from .test_flywheel_dags import LARGE, NEWS, SMALL, TOOLS, make_logs, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BUDGET = 2
# base on both NIMs: four candidate deployments for the two runs (customized too in the fault scenario)
RUN = {"icl_enabled": False, "customization_enabled": False}
_wait = functools.partial(wait_for, interval=0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("flywheel-budget")
    logs = work / "logs.jsonl"
    make_logs(logs)
    config = stack_config(logs)
    config["platform"].update({"gpu_budget": BUDGET, "lease_poll_s": 2.0})
    config["workloads"][0]["priority"] = 2
    config["workloads"][1]["nims"] = [SMALL, LARGE]
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"gpus": BUDGET, "customization_uses_gpus": False}))
    s = make_stack(work, config, emulator_args=["--config", str(emulator_cfg)])
    s.pools_file = work / "pools.json"
    s.run_cli(["flywheel", "pools", "--config", str(s.config_path), "--write", str(s.pools_file)])
    with running(s, TOOLS, NEWS):
        pool = s.api.http.get("/pools/flywheel_gpu").json()
        assert (pool["slots"], pool["include_deferred"]) == (BUDGET, False), pool
        yield s


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    reset_emulator(stack)
    assert stack.stats()["gpus_total"] == BUDGET
    return stack


def trigger_both(stack: LocalStack, tag: str, conf: dict[str, Any]) -> dict[str, str]:
    runs = {}
    for dag_id in (TOOLS, NEWS):
        rid = f"{tag}-{uuid.uuid4().hex[:8]}"
        r = stack.api.trigger(dag_id, conf, rid)
        assert r.status_code == 200, r.text
        runs[dag_id] = rid
    return runs


def finish_both(stack: LocalStack, scenario: str, runs: dict[str, str], done: list[tuple[str, str]]) -> dict[str, Any]:
    for dag_id, rid in runs.items():
        state = stack.api.wait_run(dag_id, rid, timeout=600)
        assert state == "success", {t: s for t, s in stack.api.task_states(dag_id, rid).items() if s != "success"}
    for dag_id, rid in runs.items():
        leak_check(stack, f"{scenario} ({dag_id.removeprefix('flywheel_')})", dag_id, rid)
    stats = stack.stats()
    assert stats["max_gpus_in_use"] == BUDGET, stats  # two candidates at once, never more than the budget
    assert stats["gpus_in_use"] == 0 and stats["live_deployments"] == 0 and stats["pending_deployments"] == 0, stats
    for dag_id, rid in runs.items():
        results = {(r["nim"], r["experiment"]): r["status"] for r in stack.api.xcom(dag_id, rid, "report")["results"]}
        assert [results[k] for k in done] == ["completed"] * len(done), (dag_id, results)
    return stats


def test_two_workloads_share_a_budget_of_two(fresh: LocalStack) -> None:
    fresh.reset_max()
    runs = trigger_both(fresh, "budget", RUN)
    stats = finish_both(fresh, "budget 2, two workloads at once", runs, [(SMALL, "base"), (LARGE, "base")])
    # a claimant that finds itself beyond the budget after creating withdraws: more deployments, never more GPUs
    assert stats["jobs_created"]["deployment"] >= 4, stats


@pytest.mark.faults
def test_kill_scheduler_while_two_candidates_hold_the_budget(fresh: LocalStack) -> None:
    # the customization is slow so that both GPUs are held when the scheduler dies
    fresh.emulator("POST", "/emulator/faults", json=[{"kind": "slow_job", "job": "customization", "seconds": 30}])
    runs = trigger_both(fresh, "budget-kill", {"icl_enabled": False})
    _wait(lambda: fresh.stats()["gpus_in_use"] == BUDGET, 300, "both GPUs in use")
    (scheduler,) = [p for p in fresh.processes if p.name == "scheduler"]
    os.killpg(scheduler.pid, signal.SIGKILL)  # our own child's process group (start_new_session)
    assert scheduler.proc is not None
    scheduler.proc.wait(timeout=30)
    scheduler.start()
    done = [(SMALL, "base"), (SMALL, "customized"), (LARGE, "base")]
    finish_both(fresh, "kill -9 scheduler at budget 2", runs, done)
    assert sum(fresh.stats()["jobs"]["customization"].values()) == 2  # one per run: no second job on resume
