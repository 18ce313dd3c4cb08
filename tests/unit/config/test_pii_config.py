"""The ``pii`` section: on by default, per-workload overrides, and bad values caught at load with their path."""

from __future__ import annotations

import pytest

from flywheel.airflow.tasks import _pii_summary
from flywheel.config import BUILTIN_PII_KINDS, ConfigError, validate_config
from flywheel.run.models import BuildStats, Built

BASE = {
    "workloads": [
        {"workload_id": "w1"},
        {"workload_id": "w2", "overrides": {"pii": {"mode": "drop_record", "kinds": ["email"]}}},
    ],
    "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
}


def test_redaction_of_every_builtin_kind_is_the_default_and_workloads_override_it():
    cfg = validate_config(BASE)
    w1, w2 = cfg.pii_for(cfg.workload("w1")), cfg.pii_for(cfg.workload("w2"))
    assert (w1.mode, w1.kinds, w1.phone_region) == ("redact", BUILTIN_PII_KINDS, "US")
    assert (w2.mode, w2.kinds) == ("drop_record", ["email"])


@pytest.mark.parametrize(
    ("pii", "where"),
    [
        ({"mode": "mask"}, "workloads[0].overrides.pii.mode"),
        ({"kinds": ["email", "passport"]}, "workloads[0].overrides.pii.kinds[1]"),
        ({"kinds": []}, "workloads[0].overrides.pii.kinds"),
        ({"phone_region": "usa"}, "workloads[0].overrides.pii.phone_region"),
    ],
)
def test_bad_overrides_are_reported_with_their_path(pii, where):
    raw = {**BASE, "workloads": [{"workload_id": "w1", "overrides": {"pii": pii}}]}
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert any(p.startswith(where) for p in info.value.problems), info.value.problems


def test_the_report_carries_the_build_counts():
    def built(**stats: object) -> Built:
        return Built(workload_type="generic", uri="file:///d", files={}, counts={}, stats=BuildStats(read=10, **stats))

    summary = _pii_summary(built(pii={"email": 3, "phone": 1}, pii_records=2))
    assert summary is not None and summary.to_json() == {"counts": {"email": 3, "phone": 1}, "records": 2}
    assert _pii_summary(built()) is None  # PII handling off: the build wrote "pii": null
    assert _pii_summary(None) is None
