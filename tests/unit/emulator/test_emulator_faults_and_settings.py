from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.emulator.faults import FAULT_LIST, FaultBook
from flywheel.emulator.settings import SettingsError, load_settings


def _book(faults: list[dict], seed: int = 0) -> FaultBook:
    return FaultBook(FAULT_LIST.validate_python(faults), seed=seed)


def test_http_fault_count_glob_and_model() -> None:
    book = _book(
        [
            {"kind": "http_error", "endpoint": "customization.*", "status": 503, "count": 2},
            {"kind": "http_error", "endpoint": "nim.chat", "status": 500, "model": "a/b-1b"},
        ]
    )
    hits = [book.http("customization.status", None).error for _ in range(3)]
    assert [h.status if h else None for h in hits] == [503, 503, None]
    assert book.http("nim.chat", "a/c-3b").error is None
    assert book.http("nim.chat", "a/b-1b").error is not None
    assert book.fired["http_error"] == 3


def test_an_outage_fault_ends_after_for_s() -> None:
    book = _book([{"kind": "http_error", "endpoint": "*.status", "status": 503, "for_s": 0.3}])
    assert book.http("customization.status", None).error is not None
    time.sleep(0.4)
    assert book.http("customization.status", None).error is None


def test_rate_is_seeded() -> None:
    def pattern() -> list[bool]:
        book = _book([{"kind": "latency", "endpoint": "*", "seconds": 1, "rate": 0.5}], seed=9)
        return [book.http("x.y", None).latency_s > 0 for _ in range(40)]

    first = pattern()
    assert first == pattern() and 5 < sum(first) < 35


def test_job_faults_bind_by_model_and_count() -> None:
    book = _book(
        [
            {"kind": "job_failure", "job": "customization", "model": "meta/llama-3.2-3b-instruct", "count": 1},
            {"kind": "slow_job", "job": "evaluation", "seconds": 9},
        ]
    )
    assert book.bind_job("customization", {"meta/llama-3.2-1b-instruct"}) == (None, None)
    failure, _ = book.bind_job("customization", {"meta/llama-3.2-3b-instruct"})
    assert failure is not None
    assert book.bind_job("customization", {"meta/llama-3.2-3b-instruct"})[0] is None  # count used up
    assert book.bind_job("evaluation", {"any"})[1].seconds == 9  # type: ignore[union-attr]


def test_stuck_and_never_sync_are_checked_live() -> None:
    book = _book([{"kind": "stuck", "model": "m/x"}, {"kind": "never_sync"}])
    assert book.stuck("deployment", {"m/x"}) and not book.stuck("deployment", {"m/y"})
    assert book.never_sync({"anything"})
    book.clear()
    assert not book.stuck("deployment", {"m/x"}) and not book.never_sync({"anything"})


def test_fault_schema_rejects_unknown_kinds_and_fields() -> None:
    with pytest.raises(ValidationError):
        FAULT_LIST.validate_python([{"kind": "meteor"}])
    with pytest.raises(ValidationError):
        FAULT_LIST.validate_python([{"kind": "latency", "seconds": 1, "sconds": 2}])
    with pytest.raises(ValidationError):
        FAULT_LIST.validate_python([{"kind": "http_error", "status": 200}])


def test_settings_from_yaml_json_env_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    y = tmp_path / "e.yaml"
    y.write_text("gpus: 4\ncustomization_s: 1.5\nfaults:\n  - {kind: never_sync}\n")
    s = load_settings(y)
    assert s.gpus == 4 and s.customization_s == 1.5 and s.faults[0].kind == "never_sync"
    j = tmp_path / "e.json"
    j.write_text(json.dumps({"embedding_dims": 16}))
    monkeypatch.setenv("FLYWHEEL_EMULATOR_CONFIG", str(j))
    assert load_settings().embedding_dims == 16
    assert load_settings(gpus=1).gpus == 1
    assert load_settings(y, gpus=None).gpus == 4


def test_gpus_from_env_between_the_file_and_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    y = tmp_path / "e.yaml"
    y.write_text("gpus: 4\n")
    monkeypatch.setenv("EMULATOR_GPUS", "6")
    assert load_settings(y).gpus == 6
    assert load_settings(y, gpus=1).gpus == 1
    assert load_settings().gpus == 6
    monkeypatch.setenv("EMULATOR_GPUS", "two")
    with pytest.raises(SettingsError, match=r"^EMULATOR_GPUS: must be a whole number of GPUs .*'two'$"):
        load_settings(y)


def test_bad_settings_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: -1\ndeployment_ready: 3\n")
    with pytest.raises(SettingsError) as exc:
        load_settings(bad)
    msg = str(exc.value)
    assert "\n" not in msg and "gpus" in msg and "deployment_ready" in msg
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
