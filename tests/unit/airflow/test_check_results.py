"""The run's verdict: any failed experiment or failed task fails it (a failed select_nims, a run marked
failed), with a message naming what failed."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from flywheel.airflow.tasks import check_results, failed_tasks

OK = {"workload_type": "classification", "results": [{"nim": "a/b", "experiment": "base", "status": "completed"}]}


def test_failed_tasks_lists_failed_and_upstream_failed_but_not_itself() -> None:
    states = {
        "select_nims": "failed",
        "nim_experiment.deploy_nim_0": "failed",
        "nim_experiment.base_eval_0": "upstream_failed",
        "nim_experiment.icl_eval_0": "skipped",
        "report": "success",
        "check_results": "failed",
    }
    assert failed_tasks(states, "check_results") == [
        "nim_experiment.base_eval_0",
        "nim_experiment.deploy_nim_0",
        "select_nims",
    ]
    assert failed_tasks(None, "check_results") == []


def test_a_clean_run_passes() -> None:
    assert check_results(OK, []) == "1 experiment(s) completed"


def test_a_failed_select_nims_fails_the_run_although_no_experiment_failed() -> None:
    # before: zero experiments -> "0 experiment(s) completed" and the run succeeded
    summary = {"workload_type": "classification", "results": []}
    with pytest.raises(AirflowFailException, match="failed tasks: select_nims"):
        check_results(summary, ["select_nims"])


def test_a_run_marked_failed_without_a_report_fails_naming_the_tasks() -> None:
    with pytest.raises(AirflowFailException, match=r"nim_experiment\.deploy_nim_0"):
        check_results(None, ["nim_experiment.deploy_nim_0"])
