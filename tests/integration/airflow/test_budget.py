"""The GPU budget under a real scheduler (docs/contracts.md#the-gpu-lease): budget 2, an emulator of 2 GPUs.

Two workloads triggered at once deploy their candidates two at a time: the emulator's most GPUs in use reaches
the budget and never exceeds it, both runs succeed and nothing is left live. The pool ``flywheel_gpu`` comes
from ``flywheel pools --write`` for the config's budget. The emulator's customization jobs claim no GPUs of
their own: the lease counts a customization job within its deployment's GPUs (a claim of their own would
leave every job pending behind the deployments that wait for it).

The fault scenarios (marker ``faults``, ``make test-faults``) each wait until the two runs' candidates hold
both GPUs (the customization slowed down), then: kill -9 the scheduler or the triggerer (both runs resume
and succeed, one customization job per run); mark one of the two runs failed (it ends failed, its candidate
torn down, the other run succeeds); or a 45 s outage of every platform endpoint (both runs pause and succeed
with no task try spent and exactly the jobs they need). Each ends with the leak check of both runs, the most
GPUs ever in use equal to the budget, and nothing live or pending. The same budget on the Celery engine with
two workers: test_celery_engine.py.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.waiting import wait_for

from .leaks import leak_check
from .stack import kill_and_restart, make_stack, reset_emulator, running
from .test_flywheel_dags import LARGE, NEWS, SMALL, TOOLS, make_logs, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BUDGET = 2
# base on both NIMs: four candidate deployments for the two runs (customized too in the fault scenario)
RUN = {"icl_enabled": False, "customization_enabled": False}
_wait = functools.partial(wait_for, interval=0.5)
SLOW_CUSTOMIZATION = {"kind": "slow_job", "job": "customization", "seconds": 30}
# everything but the emulator's own endpoints answers 503 for 45 s after the fault list is set
OUTAGE = {"kind": "http_error", "endpoint": "*", "status": 503, "for_s": 45}
# one customization (SMALL) per run; base SMALL, customized SMALL and base LARGE evaluated in each
DONE = [(SMALL, "base"), (SMALL, "customized"), (LARGE, "base")]


def budget_stack(work: Path, **kw: Any) -> LocalStack:
    """A stack (``kw``: LocalStack settings such as the engine) at budget 2 on an emulator of 2 GPUs, both
    workloads on both NIMs, with the pools file ``flywheel pools --write`` makes for that budget."""
    logs = work / "logs.jsonl"
    make_logs(logs)
    config = stack_config(logs)
    config["platform"].update({"gpu_budget": BUDGET, "lease_poll_s": 2.0})
    config["workloads"][0]["priority"] = 2
    config["workloads"][1]["nims"] = [SMALL, LARGE]
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"gpus": BUDGET, "customization_uses_gpus": False}))
    s = make_stack(work, config, emulator_args=["--config", str(emulator_cfg)], **kw)
    s.pools_file = work / "pools.json"
    s.run_cli(["flywheel", "pools", "--config", str(s.config_path), "--write", str(s.pools_file)])
    return s


def assert_budget_pool(stack: LocalStack) -> None:
    pool = stack.api.http.get("/pools/flywheel_gpu").json()
    assert (pool["slots"], pool["include_deferred"]) == (BUDGET, False), pool


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    s = budget_stack(tmp_path_factory.mktemp("flywheel-budget"))
    with running(s, TOOLS, NEWS):
        assert_budget_pool(s)
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


def finish_both(
    stack: LocalStack,
    scenario: str,
    runs: dict[str, str],
    done: list[tuple[str, str]],
    failed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Both runs end (those of ``failed`` failed, the others successful with ``done`` completed), each leaves
    the platform clean, and the most GPUs ever in use was the budget."""
    for dag_id, rid in runs.items():
        state = stack.api.wait_run(dag_id, rid, timeout=600)
        expected = "failed" if dag_id in failed else "success"
        assert state == expected, (
            dag_id,
            {t: s for t, s in stack.api.task_states(dag_id, rid).items() if s != expected},
        )
    for dag_id, rid in runs.items():
        leak_check(stack, f"{scenario} ({dag_id.removeprefix('flywheel_')})", dag_id, rid)
    stats = stack.stats()
    assert stats["max_gpus_in_use"] == BUDGET, stats  # two candidates at once, never more than the budget
    assert stats["gpus_in_use"] == 0 and stats["live_deployments"] == 0 and stats["pending_deployments"] == 0, stats
    for dag_id, rid in runs.items():
        if dag_id in failed:
            continue
        results = {(r["nim"], r["experiment"]): r["status"] for r in stack.api.xcom(dag_id, rid, "report")["results"]}
        assert [results[k] for k in done] == ["completed"] * len(done), (dag_id, results)
    return stats


def both_gpus_held(stack: LocalStack, tag: str) -> dict[str, str]:
    """Trigger both workloads (customization slowed down) and wait until their candidates hold both GPUs."""
    # the customization is slow so that both GPUs are still held when the fault comes
    stack.emulator("POST", "/emulator/faults", json=[SLOW_CUSTOMIZATION])
    runs = trigger_both(stack, tag, {"icl_enabled": False})
    _wait(lambda: stack.stats()["gpus_in_use"] == BUDGET, 300, "both GPUs in use")
    return runs


def customizations_per_run(stack: LocalStack) -> Counter[str]:
    """Run id → how many customization jobs it created (a job's ``flywheel_run`` is ``<run_id>-<map index>``)."""
    jobs = stack.emulator("GET", "/v1/customization/jobs")["data"]
    return Counter(str(j["custom_fields"]["flywheel_run"]).rsplit("-", 1)[0] for j in jobs)


def candidate_owners(stack: LocalStack, ready: bool = False) -> set[str]:
    """The ``flywheel_run`` marks (``dag_id/run_id``) of the live (``ready``: deployed) candidate deployments."""
    return {
        str(d["custom_fields"]["flywheel_run"])
        for d in stack.emulator("GET", "/v1/deployment/model-deployments")["data"]
        if (d.get("custom_fields") or {}).get("flywheel_role") == "candidate" and (d.get("deployed") or not ready)
    }


def only_gpu_work_left(stack: LocalStack, runs: dict[str, str]) -> bool:
    """Both GPUs in use, each run holding a deployed candidate, and each run past the steps that are not
    deferrable waits (the dataset upload and the judge's probes, which an outage fails like any task)."""
    if stack.stats()["gpus_in_use"] != BUDGET or candidate_owners(stack, ready=True) != {
        f"{dag_id}/{rid}" for dag_id, rid in runs.items()
    }:
        return False
    states = [stack.api.task_states(dag_id, rid) for dag_id, rid in runs.items()]
    return all(s.get(t) == "success" for s in states for t in ("upload_datasets[-1]", "check_judge[-1]"))


def test_two_workloads_share_a_budget_of_two(fresh: LocalStack) -> None:
    fresh.reset_max()
    runs = trigger_both(fresh, "budget", RUN)
    stats = finish_both(fresh, "budget 2, two workloads at once", runs, [(SMALL, "base"), (LARGE, "base")])
    # a claimant that finds itself beyond the budget after creating withdraws: more deployments, never more GPUs
    assert stats["jobs_created"]["deployment"] >= 4, stats


@pytest.mark.faults
def test_kill_scheduler_while_two_candidates_hold_the_budget(fresh: LocalStack) -> None:
    runs = both_gpus_held(fresh, "budget-kill")
    kill_and_restart(fresh, "scheduler")
    finish_both(fresh, "kill -9 scheduler at budget 2", runs, DONE)
    assert sum(fresh.stats()["jobs"]["customization"].values()) == 2  # one per run: no second job on resume


@pytest.mark.faults
def test_kill_triggerer_while_two_candidates_hold_the_budget(fresh: LocalStack) -> None:
    runs = both_gpus_held(fresh, "budget-kill-trig")
    # the waits deferred now (customization, evaluations, the other claims) run again in the new triggerer
    kill_and_restart(fresh, "triggerer")
    finish_both(fresh, "kill -9 triggerer at budget 2", runs, DONE)
    assert customizations_per_run(fresh) == {rid: 1 for rid in runs.values()}  # no second job on resume
    assert sum(fresh.stats()["jobs"]["evaluation"].values()) == 6


@pytest.mark.faults
def test_mark_one_run_failed_while_two_candidates_hold_the_budget(fresh: LocalStack) -> None:
    runs = both_gpus_held(fresh, "budget-mf")
    # mark failed a run that holds a candidate now: its candidate is torn down, the other run goes on
    owner = sorted(candidate_owners(fresh))[0]
    victim = owner.split("/", 1)[0]
    assert runs[victim] == owner.split("/", 1)[1], (owner, runs)
    assert fresh.api.set_run_state(victim, runs[victim], "failed").status_code == 200
    _wait(lambda: owner not in candidate_owners(fresh), 120, "the failed run's candidate torn down")
    finish_both(fresh, "mark one run failed at budget 2", runs, DONE, failed=(victim,))
    per_run = customizations_per_run(fresh)
    (survivor,) = set(runs) - {victim}
    assert per_run[runs[survivor]] == 1 and per_run[runs[victim]] <= 1, per_run


@pytest.mark.faults
def test_outage_while_two_candidates_hold_the_budget(fresh: LocalStack) -> None:
    runs = both_gpus_held(fresh, "budget-outage")
    _wait(lambda: only_gpu_work_left(fresh, runs), 300, "a deployed candidate of each run, nothing else left")
    # the slow customization stays (a job not created yet is slowed down too); the platform goes dark
    fresh.emulator("POST", "/emulator/faults", json=[SLOW_CUSTOMIZATION, OUTAGE])
    _wait(lambda: fresh.stats()["faults_fired"].get("http_error", 0) > 0, 60, "a request met the outage")
    stats = finish_both(fresh, "45 s outage at budget 2", runs, DONE)
    # exactly the jobs the two runs need: one customization per run, three evaluations per run
    assert sum(stats["jobs"]["customization"].values()) == 2, stats
    assert sum(stats["jobs"]["evaluation"].values()) == 6, stats
    per_run = customizations_per_run(fresh)
    assert sorted(per_run.values()) == [1, 1] and set(per_run) == set(runs.values()), per_run
    # the runs paused through the outage: no task needed a second try (a task never run has try 0)
    for dag_id, rid in runs.items():
        tries = {t["task_id"]: t["try_number"] for t in fresh.api.task_instances(dag_id, rid)}
        assert all(n <= 1 for n in tries.values()), (dag_id, tries)
