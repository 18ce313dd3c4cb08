"""The orchestration benchmark's baseline (benchmarks/dags/noop_flywheel_shape.py) has the flywheel DAG's shape:
the same task ids and the same dependencies between them, so its wall time is Airflow's own cost of that shape."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import yaml

from flywheel.airflow.dag_factory import build_all

ROOT = Path(__file__).resolve().parents[2]


def order(dag: Any) -> set[tuple[str, str]]:
    """(a, b) for every task b that runs only after task a: what a critical path is made of."""
    return {(a.task_id, t.task_id) for t in dag.tasks for a in t.get_flat_relatives(upstream=True)}


def test_noop_dag_has_the_flywheel_shape(tmp_path: Path) -> None:
    cfg = {
        "log_source": {"kind": "file", "path": str(tmp_path / "logs.jsonl")},
        "workloads": [{"workload_id": "customer_service", "workload_type": "tool_calling"}],
        "nims": [
            {
                "model_name": "meta/llama-3.2-1b-instruct",
                "customization_enabled": True,
                "customizer": {"target": "meta/llama-3.2-1b-instruct@2.0"},
            }
        ],
    }
    path = tmp_path / "flywheel.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (flywheel,) = build_all(str(path)).values()
    noop = runpy.run_path(str(ROOT / "benchmarks" / "dags" / "noop_flywheel_shape.py"))["dag"]

    assert {t.task_id for t in noop.tasks} == {t.task_id for t in flywheel.tasks}
    missing, extra = order(flywheel) - order(noop), order(noop) - order(flywheel)
    assert not missing and not extra, f"orderings only in the flywheel DAG: {missing}; only in the no-op: {extra}"
