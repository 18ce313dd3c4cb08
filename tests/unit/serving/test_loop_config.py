"""workloads[].trigger and serving: defaults, and one-line errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from flywheel.config import ConfigError, validate_config


def base(**extra: Any) -> dict[str, Any]:
    return {"nims": [{"model_name": "meta/llama-3.2-1b-instruct"}], "workloads": [{"workload_id": "w"}], **extra}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        validate_config(raw)
    return exc.value.problems


def test_defaults() -> None:
    cfg = validate_config(base())
    assert cfg.workloads[0].trigger is None and cfg.serving.target == "none"
    assert cfg.serving.canary_weights == [5, 25, 100]
    raw = base()
    raw["workloads"][0]["trigger"] = {}
    t = validate_config(raw).workloads[0].trigger
    assert t is not None and (t.min_new_records, t.max_label_drift, t.min_interval.total_seconds()) == (1000, 0.2, 3600)


def test_trigger_problems_name_the_field() -> None:
    raw = base()
    raw["workloads"][0]["trigger"] = {"min_new_records": 0, "max_label_drift": 2, "bogus": 1}
    got = problems(raw)
    assert "workloads[0].trigger.min_new_records: must be ≥ 1" in got
    assert "workloads[0].trigger.max_label_drift: must be ≤ 1" in got
    assert "workloads[0].trigger.bogus: unknown key" in got


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"canary_weights": [25, 5, 100]}, "serving: canary_weights [25, 5, 100] must be strictly increasing"),
        ({"canary_weights": [5, 50]}, "serving: canary_weights must end at 100 (the full rollout), not 50"),
        ({"canary_weights": [0, 100]}, "serving.canary_weights[0]: must be ≥ 1"),
        ({"target": "gateway"}, "serving: target 'gateway' needs gateway_url, routing_file, serving_log_dir"),
        ({"target": "configmap"}, "serving: target 'configmap' needs a 'configmap' block and gateway_url"),
        ({"max_error_rate": 2}, "serving.max_error_rate: must be ≤ 1"),
        ({"gateway_url": "http://x/"}, "serving.gateway_url: 'http://x/' does not match ^https?://\\S*[^/\\s]$"),
    ],
)
def test_serving_problems(serving: dict[str, Any], message: str) -> None:
    assert message in problems(base(serving=serving))
