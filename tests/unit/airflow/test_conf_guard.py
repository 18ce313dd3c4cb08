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


def test_a_long_or_numerous_unknown_key_is_quoted_short() -> None:
    long_key = "<script>alert(1)</script>" * 20
    problem = unknown_conf_problem({long_key: 1, **{f"k{i:02}": i for i in range(15)}}, ACCEPTED)
    assert problem is not None and long_key not in problem and repr(long_key[:40]) + "…" in problem
    assert "'k08'" in problem and "'k09'" not in problem and "and 6 more" in problem
