"""The log watcher under a real triggerer and scheduler: records appended to a file log source start a run
when at least ``min_new_records`` of the workload arrived, and an append below that starts nothing.

The DAG is a test DAG (loop_dags/) scheduled exactly as the workload DAGs are (``log_watch.schedule_for``):
cron ``None`` OR the log asset, here asset only. No waiting for "nothing happened": the below-threshold
append is followed by one that crosses the threshold, and the single run that follows must count both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.support.waiting import wait_for

from .stack import ROOT, database_template, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

WID = "watched"
DAG_ID = f"loopwatch_{WID}"
MIN_NEW = 5


def record(workload_id: str, tool: str, i: int) -> dict[str, Any]:
    call = {"id": f"c{i}", "type": "function", "function": {"name": tool, "arguments": json.dumps({"n": i})}}
    return {
        "timestamp": time.time(),
        "workload_id": workload_id,
        "client_id": "test",
        "request": {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]},
        "response": {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]},
    }


def append(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def config(logs: Path) -> dict[str, Any]:
    return {
        "log_source": {"kind": "file", "path": str(logs)},
        "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
        "workloads": [
            {
                "workload_id": WID,
                "schedule": None,
                "trigger": {"min_new_records": MIN_NEW, "max_label_drift": None, "min_interval": 0, "poll_s": 1},
            }
        ],
    }


def runs(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.api is not None
    r = stack.api.http.get(f"/dags/{DAG_ID}/dagRuns", params={"order_by": "logical_date"})
    r.raise_for_status()
    return list(r.json()["dag_runs"])


def test_appended_records_start_a_run_and_fewer_start_none(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    append(logs, [record(WID, "lookup", i) for i in range(20)])  # history: the watcher's baseline
    cfg_path = tmp_path / "flywheel.yaml"
    cfg_path.write_text(yaml.safe_dump(config(logs)))
    stack = LocalStack(
        workdir=tmp_path,
        config_path=cfg_path,
        dags_folder=ROOT / "tests" / "integration" / "airflow" / "loop_dags",
        pools_file=ROOT / "config" / "pools.json",
        database_template=database_template(),
    )
    with running(stack, DAG_ID):
        wait_for(
            lambda: f"watching the logs of {WID}" in stack.log_tail("triggerer", 2000),
            timeout=180,
            what="the log watcher running on the triggerer",
            interval=1,
        )
        assert runs(stack) == []
        append(logs, [record(WID, "lookup", 100 + i) for i in range(MIN_NEW - 2)])  # below the threshold
        append(logs, [record("another_workload", "lookup", 200 + i) for i in range(MIN_NEW)])  # not ours
        append(logs, [record(WID, "lookup", 300 + i) for i in range(2)])  # now at the threshold
        first = wait_for(lambda: runs(stack), timeout=180, what="a run started by the log asset", interval=1)
        assert len(first) == 1, first
        run = first[0]
        assert run["run_type"] == "asset_triggered"
        assert stack.api is not None
        assert stack.api.wait_run(DAG_ID, run["dag_run_id"], timeout=300) == "success"
        why = stack.api.xcom(DAG_ID, run["dag_run_id"], "why")
        assert why["started_by"] == "log_watch" and why["reason"] == "new_records", why
        # both appends of ours since the baseline, none of the other workload's
        assert why["records_since"] == MIN_NEW, why
        assert why["asset"] == f"flywheel://logs/{WID}"

        # a second round: again below, then across: exactly one more run, counting only what came after
        append(logs, [record(WID, "lookup", 400 + i) for i in range(MIN_NEW - 1)])
        append(logs, [record(WID, "lookup", 500)])
        both = wait_for(lambda: len(r := runs(stack)) >= 2 and r, timeout=180, what="a second run", interval=1)
        assert len(both) == 2, both
        second = both[-1]
        assert stack.api.wait_run(DAG_ID, second["dag_run_id"], timeout=300) == "success"
        assert stack.api.xcom(DAG_ID, second["dag_run_id"], "why")["records_since"] == MIN_NEW
