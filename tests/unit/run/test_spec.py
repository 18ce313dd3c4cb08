"""The pipeline spec is the DAG: the factory renders exactly its task ids, and every reader's ids exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.airflow.dag_factory import build_all
from flywheel.run import spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dags() -> dict:
    return build_all(str(ROOT / "config" / "flywheel.yaml"))


def test_every_dag_has_exactly_the_spec_task_ids(dags: dict) -> None:
    assert dags
    for dag in dags.values():
        assert {t.task_id for t in dag.tasks} == spec.task_ids(), dag.dag_id


def test_what_the_report_and_promote_read_are_tasks_of_the_spec() -> None:
    ids = spec.task_ids()
    assert set(spec.REPORT_INPUTS.values()) <= ids
    assert set(spec.PROMOTE_INPUTS.values()) <= ids
    assert {spec.in_group(t) for t in spec.ENTRY_TASKS} <= ids
    assert {spec.REPORT, spec.APPROVE, spec.PROMOTE, spec.CHECK} <= ids


def test_experiments_and_their_tasks(dags: dict) -> None:
    assert spec.EXPERIMENT_NAMES == ("base", "icl", "customized")
    assert spec.experiment("customized").tasks == (spec.CUSTOMIZE, "customized_eval")
    with pytest.raises(KeyError, match="experiment: 'lora'"):
        spec.experiment("lora")
    t = {task.task_id: task for task in next(iter(dags.values())).tasks}
    deploy = spec.in_group(spec.DEPLOY)
    for exp in spec.EXPERIMENTS:
        first, *rest = exp.tasks  # each experiment's tasks run in order, the first right after the deployment
        assert deploy in t[spec.in_group(first)].upstream_task_ids
        for before, after in zip(exp.tasks, rest, strict=False):
            assert spec.in_group(before) in t[spec.in_group(after)].upstream_task_ids
        assert spec.in_group(exp.eval_task) in t[spec.in_group(spec.TEARDOWN_NIM)].upstream_task_ids
    assert spec.mapped(spec.DEPLOY, 3) == "nim_experiment.deploy_nim_3"
