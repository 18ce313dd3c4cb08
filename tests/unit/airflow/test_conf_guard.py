"""The trigger-time conf check: unknown keys are named with the accepted ones; known keys pass.

The middleware itself (body buffering and replay) is exercised through the real API server in
tests/integration/airflow/test_flywheel_dags.py::test_b_rest_trigger_validates_params."""

from __future__ import annotations

from flywheel.airflow.conf_guard import unknown_conf_problem

ACCEPTED = {"nims", "eval_size", "epochs"}


def test_unknown_keys_are_named_with_the_accepted_ones() -> None:
    problem = unknown_conf_problem({"eval_sise": 10, "nims": []}, ACCEPTED)
    assert problem is not None
    assert "'eval_sise'" in problem and "accepted keys: epochs, eval_size, nims" in problem
    assert unknown_conf_problem({"eval_size": 10}, ACCEPTED) is None
    assert unknown_conf_problem(None, ACCEPTED) is None
