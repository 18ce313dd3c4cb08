"""Test DAGs for the log watcher: one per configured workload, scheduled on log_watch.schedule_for, whose one
task returns trigger_reason (what the workload DAG's report says). The real workload DAGs are not here: this
folder proves the watcher and the scheduling, not the pipeline."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from flywheel.airflow.log_watch import schedule_for, trigger_reason
from flywheel.config import load_config

cfg = load_config()
for _w in cfg.workloads:
    with DAG(
        dag_id=f"loopwatch_{_w.workload_id}",
        schedule=schedule_for(cfg, _w),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=4,
    ) as _dag:

        @task
        def why(workload_id: str = _w.workload_id, **context: Any) -> dict[str, object]:
            return trigger_reason(context, workload_id)

        why()
    globals()[_dag.dag_id] = _dag
