"""The task callables as a DAG run chains them (no scheduler: they are plain functions): ``extract_records``
writes the raw snapshot, ``build_datasets`` builds from it, measures the token volume the report needs and
deletes the snapshot (``artifacts.raw_snapshot_days`` 0, the default); with N days it stays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.airflow import tasks
from flywheel.run.models import Built, Extracted
from tests.unit.datasets.factory import write_logs


def run_extract_and_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **artifacts: Any) -> tuple[dict, dict]:
    logs = write_logs(tmp_path / "logs.jsonl", 300, seed=3, pii_every=10)
    cfg = {
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "none"},
        "artifacts": artifacts,
        "defaults": {"split": {"eval_size": 20, "min_total_records": 20}, "icl": {"enabled": False}},
        "workloads": [{"workload_id": "customer_service", "client_id": "aiva-1", "workload_type": "tool_calling"}],
        "nims": [{"model_name": "meta/llama-3.2-1b-instruct"}],
    }
    path = tmp_path / "flywheel.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("FLYWHEEL_ARTIFACTS", str(tmp_path / "artifacts"))
    extracted = tasks.extract_records(str(path), "customer_service", {}, "flywheel_cs", "run-1")
    assert (Path(extracted["snapshot"]) / "records.jsonl").is_file()
    built = tasks.build_datasets(str(path), extracted, "flywheel_cs", "run-1")
    return extracted, built


def test_the_raw_snapshot_is_deleted_once_the_datasets_are_built(tmp_path, monkeypatch):
    extracted, built = run_extract_and_build(tmp_path, monkeypatch)
    assert not Path(extracted["snapshot"]).exists()
    assert built["stats"]["pii_records"] == 30
    datasets = Path(built["uri"])
    text = "".join((datasets / name).read_text() for name in built["files"].values())
    assert "@example.com" not in text and "415-555-" not in text
    volume = tasks._volume(Extracted.model_validate(extracted), Built.model_validate(built))  # what the report uses
    assert volume is not None and volume.records == 300
    assert json.loads(json.dumps(built))["volume"]["records"] == 300  # XCom-serialisable


def test_raw_snapshot_days_keeps_it(tmp_path, monkeypatch):
    extracted, built = run_extract_and_build(tmp_path, monkeypatch, raw_snapshot_days=3)
    assert (Path(extracted["snapshot"]) / "records.jsonl").is_file()
    ex = Extracted.model_validate(extracted)
    assert tasks._volume(ex, None) == tasks._volume(ex, Built.model_validate(built))
