"""The same flywheel DAG under CeleryExecutor with a real Redis broker and a PostgreSQL metadata database
started by the test (the docker-compose topology).

A second stack runs two Celery workers at GPU budget 2 (docs/contracts.md#the-gpu-lease): both workloads
triggered at once succeed on the two workers, the emulator's most GPUs in use is the budget and never more,
each run created exactly the jobs it needs (one customization, three evaluations) and nothing is left live.
That one is marked ``faults``: it runs in ``make test-faults``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .stack import make_stack, running
from .test_budget import (
    DONE,
    assert_budget_pool,
    budget_stack,
    customizations_per_run,
    finish_both,
    trigger_both,
)
from .test_flywheel_dags import NEWS, SMALL, TOOLS, make_logs, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
PG = Path("/usr/lib/postgresql/15/bin/postgres")


WORKERS = ("celery-worker", "celery-worker-2")


def need_services() -> None:
    if not PG.exists() or not shutil.which("redis-server"):
        pytest.fail("PostgreSQL 15 and redis-server are required (.ci/run installs them)")


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_services()
    work = tmp_path_factory.mktemp("celery-stack")
    logs = work / "logs.jsonl"
    make_logs(logs)
    s = make_stack(work, stack_config(logs), executor="celery", parallelism=4)
    try:
        with running(s, TOOLS):
            yield s
    finally:
        s.remove_scratch()


def test_flywheel_run_on_celery_redis_postgres(celery_stack: Any) -> None:
    api = celery_stack.api
    rid = "celery-run-1"
    r = api.trigger(TOOLS, {"nims": [SMALL]}, rid)
    assert r.status_code == 200, r.text
    assert api.wait_run(TOOLS, rid, timeout=480) == "success", api.task_states(TOOLS, rid)
    report = api.xcom(TOOLS, rid, "report")
    statuses = {(x["nim"], x["experiment"]): x["status"] for x in report["results"]}
    assert statuses == {(SMALL, "base"): "completed", (SMALL, "icl"): "completed", (SMALL, "customized"): "completed"}
    # Every task of the run went through the Celery worker (its log names each task it executed).
    worker_log = celery_stack.log_tail("celery-worker", 5000)
    executed = {m for m in re.findall(r"run_id=celery-run-1/task_id=([\w.]+)", worker_log)}
    expected = {t["task_id"] for t in api.task_instances(TOOLS, rid) if t["state"] == "success"}
    assert expected and expected <= executed, expected - executed
    assert celery_stack.stats()["live_deployments"] == 0


@pytest.fixture(scope="module")
def two_worker_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_services()
    s = budget_stack(tmp_path_factory.mktemp("celery-budget"), executor="celery", parallelism=8, celery_workers=2)
    try:
        with running(s, TOOLS, NEWS):
            assert_budget_pool(s)
            # both Celery nodes are up before anything is queued, so either may take the first task
            for name in WORKERS:
                wait_for(lambda n=name: " ready." in s.log_tail(n, 400), 120, f"{name} ready", interval=0.5)
            yield s
    finally:
        s.remove_scratch()


@pytest.mark.faults  # ~4 min with its own stack: in make test-faults, beside the other budget-2 scenarios
@pytest.mark.timeout(900)
def test_two_workloads_at_budget_two_on_two_celery_workers(two_worker_stack: Any) -> None:
    stack = two_worker_stack
    assert set(WORKERS) <= set(stack.pids()), stack.pids()
    stack.reset_max()
    runs = trigger_both(stack, "celery2", {"icl_enabled": False})
    # both succeed, each leaves the platform clean, two candidates at once and never more, nothing live
    stats = finish_both(stack, "celery, two workers, budget 2", runs, DONE)
    # no duplicate job: one customization per run, three evaluations per run (a withdrawn claim may create a
    # deployment more, never a job)
    assert customizations_per_run(stack) == {rid: 1 for rid in runs.values()}, stats
    assert stats["jobs_created"]["evaluation"] == 3 * len(runs), stats
    assert stats["jobs_created"]["deployment"] >= 2 * len(runs), stats
    # both workers executed tasks of these runs (each worker's log names the tasks it ran)
    ran = {
        name: set(re.findall(r"run_id=(celery2-\w+)/task_id=([\w.]+)", stack.log_tail(name, 20000))) for name in WORKERS
    }
    assert all(ran.values()), {name: len(tasks) for name, tasks in ran.items()}
    expected = {
        (rid, t["task_id"])
        for dag_id, rid in runs.items()
        for t in stack.api.task_instances(dag_id, rid)
        if t["state"] == "success"
    }
    assert expected <= ran[WORKERS[0]] | ran[WORKERS[1]], expected - (ran[WORKERS[0]] | ran[WORKERS[1]])
