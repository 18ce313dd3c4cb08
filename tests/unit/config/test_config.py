"""Config loading: a valid file, and every error class with its exact one-line message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flywheel.config import ConfigError, FlywheelConfig, load_config, validate_config

ROOT = Path(__file__).resolve().parents[3]

MINIMAL = {
    "workloads": [{"workload_id": "w1", "client_id": "c1"}],
    "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
}


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.problems


def with_(**changes) -> dict:
    return {**MINIMAL, **changes}


def test_shipped_config_is_valid():
    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    assert isinstance(cfg, FlywheelConfig)
    assert [w.dag_id for w in cfg.workloads] == [
        "flywheel_customer_service",
        "flywheel_news_classifier",
        "flywheel_support_answers",
    ]
    news = cfg.workload("news_classifier")
    assert cfg.split_for(news).eval_size == 60  # override
    assert cfg.split_for(cfg.workload("customer_service")).eval_size == 100  # default
    assert cfg.schedule_for(news) == "@daily"
    assert cfg.schedule_for(cfg.workload("customer_service")) == "@weekly"
    assert cfg.nims[0].deployment_name == "meta-llama-3.2-1b-instruct"
    assert cfg.nims[0].image_name == "nvcr.io/nim/meta/llama-3.2-1b-instruct"


def test_defaults_follow_reference_where_sensible():
    cfg = validate_config(MINIMAL)
    assert (cfg.defaults.split.eval_size, cfg.defaults.split.val_ratio) == (100, 0.1)
    assert (cfg.defaults.training.epochs, cfg.defaults.training.batch_size) == (2, 16)
    assert (cfg.defaults.lora.adapter_dim, cfg.defaults.lora.adapter_dropout) == (32, 0.1)
    assert cfg.defaults.icl.max_examples == 3 and cfg.defaults.icl.min_examples == 1
    assert cfg.platform.namespace == "dfwbp"


def test_unknown_key_is_refused_with_path():
    assert problems(with_(nims=[{"model_name": "a/b", "gpu": 1}])) == ["nims[0].gpu: unknown key"]


def test_gpus_must_be_positive():
    raw = with_(nims=[{"model_name": "a/b"}, {"model_name": "a/c", "gpus": 0}])
    assert problems(raw) == ["nims[1].gpus: must be ≥ 1"]


def test_duplicate_workload_ids():
    raw = with_(workloads=[{"workload_id": "w"}, {"workload_id": "x"}, {"workload_id": "w"}])
    assert problems(raw) == ["workloads[2].workload_id: duplicate 'w' (first at workloads[0])"]


def test_duplicate_model_names():
    raw = with_(nims=[{"model_name": "a/b"}, {"model_name": "a/b"}])
    assert problems(raw) == ["nims[1].model_name: duplicate 'a/b' (first at nims[0])"]


def test_eval_size_below_one():
    assert problems(with_(defaults={"split": {"eval_size": 0}})) == ["defaults.split.eval_size: must be ≥ 1"]


@pytest.mark.parametrize(("ratio", "message"), [(0, "must be > 0"), (1, "must be < 1"), (1.5, "must be < 1")])
def test_val_ratio_outside_open_interval(ratio, message):
    assert problems(with_(defaults={"split": {"val_ratio": ratio}})) == [f"defaults.split.val_ratio: {message}"]


def test_bad_override_is_reported_at_its_path():
    raw = with_(workloads=[{"workload_id": "w", "overrides": {"split": {"val_ratio": 2}}}])
    assert problems(raw) == ["workloads[0].overrides.split.val_ratio: must be < 1"]


def test_workload_nim_subset_must_exist():
    raw = with_(workloads=[{"workload_id": "w", "nims": ["meta/nope"]}])
    assert problems(raw) == ["workloads[0].nims[0]: 'meta/nope' is not a configured NIM"]


def test_customization_needs_customizer_block():
    raw = with_(nims=[{"model_name": "a/b", "customization_enabled": True}])
    assert problems(raw) == ["nims[0]: customization_enabled needs a 'customizer' block (target, gpus, ...)"]


def test_missing_sections_and_wrong_types():
    assert problems({"workloads": []}) == ["nims: required"]
    assert problems(with_(nims=[{"model_name": "a/b", "gpus": "two"}])) == ["nims[0].gpus: must be an integer"]


def test_icl_examples_cannot_exceed_eval_size():
    raw = with_(defaults={"split": {"eval_size": 2}, "icl": {"max_examples": 3}})
    assert problems(raw) == ["defaults.icl.max_examples: must be ≤ split.eval_size (2)"]


def test_three_mistakes_give_three_lines(tmp_path):
    raw = {
        "workloads": [{"workload_id": "w"}, {"workload_id": "w"}],
        "nims": [{"model_name": "a/b", "gpus": 0}],
        "defaults": {"split": {"eval_size": 0}},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "check-config", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert sorted(out.stdout.splitlines()) == sorted(
        f"{path}: {line}"
        for line in [
            "defaults.split.eval_size: must be ≥ 1",
            "nims[0].gpus: must be ≥ 1",
            "workloads[1].workload_id: duplicate 'w' (first at workloads[0])",
        ]
    )


def test_env_variable_selects_another_file(tmp_path, monkeypatch):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(with_(workloads=[{"workload_id": "from_env"}])))
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(path))
    assert load_config().workloads[0].workload_id == "from_env"


def test_invalid_yaml_and_missing_file_are_one_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("workloads: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("invalid YAML at line")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml")
    assert info.value.problems[0].startswith("cannot read config file")


def test_check_config_ok_output():
    out = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "check-config", str(ROOT / "config" / "flywheel.yaml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stdout.splitlines()[0] == f"ok: {ROOT / 'config' / 'flywheel.yaml'}"


def test_local_shared_nims_need_an_org_slash_name():
    raw = with_(judge={"mode": "local", "model_name": "gpt-4o"}, embedding={"mode": "local", "model_name": "embedqa"})
    assert problems(raw) == [
        "judge: model_name 'gpt-4o' must look like 'org/name' when the judge is deployed locally (mode: local)",
        "embedding: model_name 'embedqa' must look like 'org/name' when the embedding model is deployed locally "
        "(mode: local)",
    ]
    assert validate_config(with_(judge={"mode": "remote", "model_name": "gpt-4o"})).judge.model_name == "gpt-4o"


# ------------------------------------------------------------------------------------------ the decision
def test_selection_and_production_defaults_and_per_workload_overrides():
    raw = with_(
        defaults={
            "selection": {"min_quality": 0.8, "approval_timeout": "PT30S"},
            "production": {
                "model_name": "p/big",
                "price": {"usd_per_1m_input_tokens": 1, "usd_per_1m_output_tokens": 2},
            },
        },
        workloads=[
            {"workload_id": "w1"},
            {
                "workload_id": "w2",
                "overrides": {
                    "selection": {"max_p95_ms": 250, "approval": "auto"},
                    "production": {"price": {"gpus": 4, "gpu_type": "A100", "output_tokens_per_s": 900}},
                },
            },
        ],
    )
    cfg = validate_config(raw)
    w1, w2 = cfg.workload("w1"), cfg.workload("w2")
    assert cfg.selection_for(w1).min_quality == 0.8 and cfg.selection_for(w1).approval == "required"
    assert cfg.selection_for(w1).approval_timeout.total_seconds() == 30
    assert (cfg.selection_for(w2).min_quality, cfg.selection_for(w2).max_p95_ms) == (0.8, 250)
    assert cfg.production_for(w1).price.per_token
    assert cfg.production_for(w2).model_name == "p/big" and cfg.production_for(w2).price.gpus == 4
    assert validate_config(MINIMAL).selection_for(validate_config(MINIMAL).workloads[0]).approval_timeout.days == 7


def test_decision_values_are_refused_with_their_yaml_path():
    raw = with_(
        defaults={
            "selection": {"min_quality": 0},
            "production": {"model_name": "p", "price": {"usd_per_1m_input_tokens": -1, "usd_per_1m_output_tokens": 2}},
        },
        workloads=[
            {
                "workload_id": "w1",
                "overrides": {
                    "selection": {"min_quality": 1.5, "approval": "maybe"},
                    "production": {"price": {"gpus": 1, "gpu_type": "B200", "output_tokens_per_s": 10}},
                },
            }
        ],
        nims=[{"model_name": "a/b", "gpu_type": "TPU"}],
        pricing={"gpu_hour_usd": {"H100": -2, "L40S": 1}},
    )
    assert problems(raw) == [
        "pricing.gpu_hour_usd.H100: must be ≥ 0",
        "defaults.selection.min_quality: must be > 0",
        "defaults.production.price.usd_per_1m_input_tokens: must be ≥ 0",
        "workloads[0].overrides.selection.min_quality: must be ≤ 1",
        "workloads[0].overrides.selection.approval: must be one of 'required', 'auto' or 'off'",
        "nims[0].gpu_type: 'TPU' has no price in pricing.gpu_hour_usd (H100, L40S)",
        "workloads[0].overrides.production.price.gpu_type: 'B200' has no price in pricing.gpu_hour_usd (H100, L40S)",
    ]


def test_production_price_is_one_kind():
    raw = with_(defaults={"production": {"model_name": "p", "price": {"usd_per_1m_output_tokens": 2, "gpus": 1}}})
    assert problems(raw) == [
        "defaults.production.price: give either usd_per_1m_input_tokens + usd_per_1m_output_tokens, "
        "or gpus + gpu_type + output_tokens_per_s"
    ]


def test_a_candidate_cannot_be_the_local_judge_or_embedder():
    # before: deploy_nim adopted the judge's deployment (same name), the lease did not see it and the
    # candidate's teardown deleted the shared judge mid-run
    raw = with_(judge={"mode": "local", "model_name": "Meta/Llama-3.2-1B-Instruct"})
    assert problems(raw) == [
        "nims[0].model_name: 'meta/llama-3.2-1b-instruct' is also the local judge (judge.model_name); a "
        "candidate cannot share the judge's deployment: use a remote judge or another model"
    ]
    assert validate_config(with_(judge={"mode": "remote", "model_name": "meta/llama-3.2-1b-instruct"}))


def test_a_served_candidate_needs_an_http_url_and_cannot_be_customized():
    ok = validate_config(with_(nims=[{"model_name": "a/b", "served_url": "https://nim.example:8000"}]))
    assert ok.nims[0].served_url == "https://nim.example:8000"
    [bad_url] = problems(with_(nims=[{"model_name": "a/b", "served_url": "nim.example/"}]))
    assert bad_url.startswith("nims[0].served_url:"), bad_url
    customized = {
        "model_name": "a/b",
        "served_url": "http://x",
        "customization_enabled": True,
        "customizer": {"target": "t"},
    }
    [why] = problems(with_(nims=[customized]))
    assert "cannot be customized" in why and "a/b" in why, why
    keyed = validate_config(with_(nims=[{"model_name": "a/b", "served_url": "http://x", "served_conn_id": "k_1"}]))
    assert keyed.nims[0].served_conn_id == "k_1"
    [keyless_url] = problems(with_(nims=[{"model_name": "a/b", "served_conn_id": "k_1"}]))
    assert "served_conn_id" in keyless_url and "a/b" in keyless_url, keyless_url


def test_gpu_budget_and_workload_priority_default_to_todays_behaviour():
    cfg = validate_config(MINIMAL)
    assert cfg.platform.gpu_budget == 1 and all(n.gpus == 1 for n in cfg.nims)
    assert all(w.priority == 1 for w in cfg.workloads)


def test_a_nim_beyond_the_gpu_budget_is_refused_naming_the_field():
    raw = with_(nims=[{"model_name": "a/b", "gpus": 4}], platform={"gpu_budget": 2})
    assert problems(raw) == ["nims[0].gpus: 4 GPUs is more than platform.gpu_budget (2); it could never be deployed"]
    served = {"model_name": "a/b", "gpus": 4, "served_url": "http://x:8000"}
    assert validate_config(with_(nims=[served])).nims[0].gpus == 4  # served elsewhere: no deployment, no lease
