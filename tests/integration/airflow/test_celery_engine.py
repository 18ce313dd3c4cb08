"""The same flywheel DAG under CeleryExecutor with a real Redis broker and a PostgreSQL metadata database
started by the test (the docker-compose topology)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from .stack import make_stack, running
from .test_flywheel_dags import SMALL, TOOLS, make_logs, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
PG = Path("/usr/lib/postgresql/15/bin/postgres")


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not PG.exists() or not shutil.which("redis-server"):
        pytest.fail("PostgreSQL 15 and redis-server are required (.ci/run installs them)")
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
