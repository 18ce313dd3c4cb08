"""Params override config for one run only; NIM plans follow config and params."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flywheel.airflow.results import STOPPED, best_candidates, normalise, read_entry, stopped_experiments
from flywheel.airflow.run_settings import RunSettings
from flywheel.airflow.shared_nims import judge_needed
from flywheel.airflow.tasks import dataset_names
from flywheel.config import load_config
from flywheel.run.models import NimPlan

ROOT = Path(__file__).resolve().parents[3]
CFG = load_config(ROOT / "config" / "flywheel.yaml")
CS = CFG.workload("customer_service")


def test_defaults_come_from_config():
    s = RunSettings.resolve(CFG, CS, {})
    assert s.split.eval_size == 100 and s.training.epochs == 2 and s.nims == [n.model_name for n in CFG.nims]


def test_params_override_for_this_run_only():
    s = RunSettings.resolve(
        CFG,
        CS,
        {
            "eval_size": 7,
            "epochs": 5,
            "lora_adapter_dim": 8,
            "icl_enabled": False,
            "nims": ["meta/llama-3.2-3b-instruct"],
            "since": "2026-01-02T00:00:00Z",
        },
    )
    assert (s.split.eval_size, s.training.epochs, s.lora.adapter_dim, s.icl.enabled) == (7, 5, 8, False)
    assert s.since == datetime(2026, 1, 2, tzinfo=UTC)
    assert RunSettings.resolve(CFG, CS, {}).split.eval_size == 100
    plans = s.plans(CFG, "tool_calling")
    assert [p.model_dump() for p in plans] == [
        {"model_name": "meta/llama-3.2-3b-instruct", "customize": True, "icl": False}
    ]


def test_customization_param_and_config_both_gate_customization():
    s = RunSettings.resolve(CFG, CS, {"customization_enabled": False})
    assert not any(p.customize for p in s.plans(CFG, "tool_calling"))


def test_unknown_nim_in_params_is_refused():
    with pytest.raises(ValueError, match="not configured"):
        RunSettings.resolve(CFG, CS, {"nims": ["meta/other"]})


def test_settings_round_trip_through_json():
    s = RunSettings.resolve(CFG, CS, {"since": "2026-01-02T00:00:00+00:00"})
    assert RunSettings.model_validate(s.model_dump(mode="json")) == s


def test_dataset_names_are_unique_per_run_and_valid():
    a = dataset_names("Customer_Service", "flywheel_customer_service", "manual__2026-11-23T10:00:00+00:00")
    b = dataset_names("Customer_Service", "flywheel_customer_service", "manual__2026-11-23T10:00:01+00:00")
    assert a["eval"] != b["eval"]
    assert all(n.startswith("flywheel-") and n == n.lower() and "/" not in n for n in a.values())


def test_judge_only_when_a_metric_needs_it():
    assert judge_needed("generic", CFG) and judge_needed("tool_calling", CFG)
    assert not judge_needed("classification", CFG)


def test_report_tells_a_stopped_experiment_from_one_that_never_ran():
    # a person marked the run failed while base_eval and customize waited: both tasks ``failed``, icl_eval
    # and customized_eval never started (skipped / upstream_failed)
    plans = [NimPlan(model_name="a/x", icl=True, customize=True)]
    states = {
        "nim_experiment.deploy_nim_0": "success",
        "nim_experiment.base_eval_0": "failed",
        "nim_experiment.icl_eval_0": "upstream_failed",
        "nim_experiment.customize_0": "failed",
        "nim_experiment.customized_eval_0": "upstream_failed",
    }
    stopped = stopped_experiments("nim_experiment", plans, states)
    assert stopped == {("a/x", "base"), ("a/x", "customized")}
    out = {r.experiment: r.to_json() for r in normalise(plans, {}, {}, stopped)}
    assert out["base"]["error"] == out["customized"]["error"] == STOPPED
    assert out["icl"]["error"].startswith("not run:")


def test_report_normalises_partial_results():
    plans = [NimPlan(model_name="a/x", icl=True, customize=True), NimPlan(model_name="a/y", icl=False, customize=False)]
    raw = {
        ("a/x", "base"): {
            "nim": "a/x",
            "experiment": "base",
            "status": "completed",
            "scores": {"f1": 0.5, "bad": None},
            "job_id": "j1",
            "duration_s": 3.0,
        },
        ("a/x", "customized"): {"nim": "a/x", "experiment": "customized", "status": "failed", "error": "boom"},
    }
    found = {k: e for k, v in raw.items() if (e := read_entry(v)) is not None}
    assert read_entry({"nim": "a/x", "experiment": "deploy", "status": "failed"}) is None  # not an experiment
    results = normalise(plans, found, {"a/y": "deployment failed: x"})
    out = {r.key: r.to_json() for r in results}
    assert out[("a/x", "base")]["scores"] == {"f1": 0.5}
    assert out[("a/x", "icl")]["status"] == "failed"
    assert out[("a/x", "customized")]["error"] == "boom"
    assert out[("a/y", "base")] == {
        "nim": "a/y",
        "experiment": "base",
        "status": "failed",
        "scores": {},
        "error": "not run: deployment failed: x",
        "job_id": None,
        "duration_s": None,
    }
    assert out[("a/y", "icl")]["status"] == "skipped"
    best = best_candidates(results, "f1")
    assert best is not None and best.to_json() == {
        "nim": "a/x",
        "experiment": "base",
        "metric": "f1",
        "score": 0.5,
    }


def test_quality_bar_and_latency_cap_are_params_for_one_run():
    from flywheel.airflow.run_settings import params_for

    form = params_for(CFG, CS)
    assert form["min_quality"].value == CFG.selection_for(CS).min_quality and form["max_p95_ms"].value is None
    s = RunSettings.resolve(CFG, CS, {"min_quality": 0.55, "max_p95_ms": 300})
    assert (s.selection.min_quality, s.selection.max_p95_ms) == (0.55, 300)
    assert s.selection.approval == CFG.selection_for(CS).approval
    assert RunSettings.model_validate(s.model_dump(mode="json")) == s  # survives XCom
    with pytest.raises(ValueError):
        RunSettings.resolve(CFG, CS, {"min_quality": 1.2})
