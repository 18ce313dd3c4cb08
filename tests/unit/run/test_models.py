"""The run's models are the same JSON as today's XComs (docs/contracts.md#results).

The golden files under ``golden/`` were written by the dict-based code these models replaced (``normalise``,
``decide``, the experiment entry, the approval decision, ``extract_records``' settings), run on the same
inputs; each must survive reading into its model and dumping back unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.run.models import (
    Audit,
    Built,
    Cost,
    Decision,
    Extracted,
    Latency,
    NimPlan,
    PlatformMark,
    Report,
    Rerun,
    ResultEntry,
    RunRef,
    TokenVolume,
    UploadedDataset,
)
from tests.unit.ui.reports import decided_report, plain_report

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["decide_met", "decide_none", "decide_nodata", "decide_tool"])
def test_a_report_reads_and_dumps_unchanged(name: str) -> None:
    report = golden(name)["report"]
    assert Report.model_validate(report).to_json() == report


def test_report_entries_and_task_entries_keep_their_own_keys() -> None:
    g = golden("normalise")
    found = [e for e in g["found"] if all(isinstance(v, int | float) for v in e["scores"].values())]
    for entry in g["results"] + found + golden("documents")["entries"]:
        assert ResultEntry.model_validate(entry).to_json() == entry
    # a task's own entry has no decision keys; the report's has them, null when not measured
    task_entry = ResultEntry(nim="m", experiment="base", status="failed", error="boom")
    assert set(task_entry.to_json()) == {"nim", "experiment", "status", "scores", "error", "job_id", "duration_s"}
    decided = task_entry.model_copy(update={"latency": None, "cost": None, "ci": None})
    assert decided.to_json() == {**task_entry.to_json(), "latency": None, "cost": None, "ci": None}


def test_a_simple_constructor_writes_the_contract_keys() -> None:
    e = ResultEntry(nim="m/a", experiment="icl", status="completed", scores={"f1": 1}, job_id="j", duration_s=2)
    assert e.to_json() == {
        "nim": "m/a",
        "experiment": "icl",
        "status": "completed",
        "scores": {"f1": 1.0},
        "error": None,
        "job_id": "j",
        "duration_s": 2.0,
    }
    with pytest.raises(ValidationError, match="status"):
        ResultEntry(nim="m/a", experiment="icl", status="done")  # type: ignore[arg-type]
    # as the experiment tasks have always written it: seconds to a tenth
    assert ResultEntry(nim="m/a", experiment="base", status="failed", duration_s=12.345).duration_s == 12.3


def test_per_row_scores_feed_the_decision_but_are_never_written() -> None:
    e = ResultEntry(nim="m", experiment="base", status="completed", per_row_scores=[1.0, 0.0])
    assert e.per_row_scores == [1.0, 0.0] and "per_row_scores" not in e.to_json()


@pytest.mark.parametrize("report", [decided_report(), plain_report()], ids=["decided", "plain"])
def test_stored_reports_answer_as_they_were_stored(report: dict) -> None:
    """A report read back (XCom, MongoDB) keeps exactly its keys: older ones have no decision fields."""
    model = Report.model_validate(report)
    assert model.stored_json() == report
    assert ("recommendation" in model.model_fields_set) == ("recommendation" in report)


def test_unknown_keys_survive_a_round_trip() -> None:
    report = {**plain_report(), "from_a_newer_version": {"x": [1, 2]}}
    assert Report.model_validate(report).stored_json() == report


def test_decisions() -> None:
    for d in golden("documents")["decisions"]:
        assert Decision.model_validate(d).to_json() == d
    plain = Decision(status="expired", comment="no answer before selection.approval_timeout")
    assert "superseded_by" not in plain.to_json()
    assert Decision(status="superseded", superseded_by="r2").to_json()["superseded_by"] == "r2"
    with pytest.raises(ValidationError, match="status"):
        Decision(status="maybe")  # type: ignore[arg-type]


def test_settings_and_plans_as_extract_records_and_select_nims_return_them() -> None:
    docs = golden("documents")
    extracted = Extracted.model_validate(docs["extracted"])
    assert extracted.model_dump(mode="json") == docs["extracted"]
    assert extracted.settings.split.eval_size == 7
    assert [NimPlan.model_validate(p).model_dump() for p in docs["plans"]] == docs["plans"]


def test_data_task_outputs() -> None:
    built = {
        "workload_type": "tool_calling",
        "uri": "file:///a/datasets",
        "files": {"eval": "eval.jsonl", "train": "train.jsonl", "val": "val.jsonl"},
        "counts": {"eval": 20, "train": 60, "val": 10},
        "stats": {
            "read": 100,
            "used": 90,
            "invalid": {"missing_response": 3, "tool_arguments_not_json": 1},
            "duplicates": 6,
            "filtered": 0,
            "pii": None,
            "pii_records": None,
        },
        "volume": {
            "records": 100,
            "input_tokens": 30,
            "output_tokens": 10,
            "window_days": 1.0,
            "output_tokens_per_month": 300.0,
            "input_tokens_per_month": 900.0,
        },
    }
    model = Built.model_validate(built)
    assert model.to_json() == built and isinstance(model.volume, TokenVolume)
    uploaded = {
        "eval": {"name": "e", "files_url": "hf://datasets/ns/e", "records": 20},
        "train": {"name": "t", "files_url": "hf://datasets/ns/t", "records": 60, "val_records": 10},
    }
    assert {k: UploadedDataset.model_validate(v).to_json() for k, v in uploaded.items()} == uploaded


def test_audit_record_with_reruns() -> None:
    decision = golden("documents")["decisions"][0]
    report = golden("decide_tool")["report"]
    entry = report["results"][2]
    audit = {
        "workload_id": "cs",
        "dag_id": "flywheel_cs",
        "run_id": "r1",
        "decision": decision,
        "model_id": "ns/adapter@v1",
        "scores": entry["scores"],
        "latency": entry["latency"],
        "cost": entry["cost"],
        "recommendation": report["recommendation"],
        "datasets": [{"kind": "eval", "path": "file:///a/eval.jsonl", "sha256": "ab" * 32}],
        "job_ids": [{"nim": entry["nim"], "experiment": "customized", "job_id": "j3"}],
        "customization_job_id": "c1",
        "settings_sha256": "cd" * 32,
        "by": "ann",
        "at": decision["at"],
        "comment": "ok",
        "platform_mark": {"model_id": "ns/adapter@v1", "marked": True, "custom_fields": {"flywheel_promoted": True}},
    }
    model = Audit.model_validate(audit)
    assert model.to_json() == audit  # the XCom: no reruns key
    stored = {**audit, "reruns": [{"try_number": 2, "at": "2026-03-01T12:05:00+00:00"}]}
    assert Audit.model_validate(stored).to_json() == stored
    base = {"model_id": "m", "marked": False, "why": "base model: served by its NIM image, nothing to mark"}
    assert PlatformMark.model_validate(base).to_json() == base
    rerun = {"try_number": 3, "at": "2026-03-01T12:09:00+00:00", "event_id": 7}
    assert Rerun.model_validate(rerun).to_json() == rerun


def test_latency_and_cost_helpers() -> None:
    e = ResultEntry(
        nim="m",
        experiment="base",
        status="completed",
        latency=Latency(p95_ms=80.0),
        cost=Cost(per_1m_output_tokens_usd=0.5, gpu_hours=0.1),
    )
    assert (e.p95_ms, e.per_1m_output_tokens_usd, e.key) == (80.0, 0.5, ("m", "base"))
    assert ResultEntry(nim="m", experiment="base", status="failed").p95_ms is None


def test_run_order_for_the_newest_report() -> None:
    old = RunRef(dag_id="d", run_id="a", run_after="2026-01-01T00:00:00+00:00")
    new = RunRef(dag_id="d", run_id="b", run_after="2026-01-02T00:00:00+00:00")
    assert new.newer_than(old) and not old.newer_than(new) and not new.newer_than(new)
    assert new.to_json() == {"dag_id": "d", "run_id": "b", "run_after": "2026-01-02T00:00:00+00:00"}


# ----------------------------------------------------------- the typed code writes the golden JSON
def test_normalise_writes_the_entries_the_dict_code_wrote() -> None:
    from flywheel.airflow.results import normalise, read_entry

    g = golden("normalise")
    plans = [NimPlan.model_validate(p) for p in g["plans"]]
    found = {e.key: e for e in map(read_entry, g["found"]) if e is not None}
    stopped = frozenset(tuple(s) for s in g["stopped"])
    assert [e.to_json() for e in normalise(plans, found, g["deploy_errors"], stopped)] == g["results"]


@pytest.mark.parametrize("name", ["decide_met", "decide_none", "decide_nodata", "decide_tool"])
def test_decide_writes_the_report_the_dict_code_wrote(name: str) -> None:
    """Entries, decision fields and ``best`` assembled into a Report, dumped: today's report, key for key."""
    from flywheel.airflow.results import best_candidates
    from flywheel.config import CustomizerConfig, NimConfig, ProductionConfig, ProductionPrice, SelectionConfig
    from flywheel.decision.report import decide
    from flywheel.run.models import DatasetRef, LatencyRun, Pii

    g = golden(name)
    small = NimConfig(
        model_name="m/small-1b",
        gpu_type="L40S",
        customization_enabled=True,
        customizer=CustomizerConfig(target="m/small-1b@2.0", gpus=2),
    )
    large = NimConfig(model_name="m/large-3b", gpus=2, gpu_type="H100")
    prices = ProductionPrice(usd_per_1m_input_tokens=1.0, usd_per_1m_output_tokens=2.0)
    entries, fields = decide(
        [ResultEntry.model_validate(e) for e in g["results"]],
        g["workload_type"],
        50,
        {nim: LatencyRun.model_validate(m) for nim, m in g["measured"].items()},
        {small.model_name: 1800.0},
        {n.model_name: n for n in (small, large)},
        {"L40S": 1.0, "H100": 3.0},
        SelectionConfig.model_validate(g["selection"]),
        ProductionConfig(model_name="p/big", price=prices),
        TokenVolume(100, 30_000, 10_000, 1.0, 300_000.0, 900_000.0),
    )
    wtype = g["workload_type"]
    report = Report(
        workload_id="cs",
        client_id="c",
        workload_type=wtype,
        datasets={"eval": DatasetRef(name="e", records=50)},
        results=entries,
        best=best_candidates(entries, "f1") if wtype else None,
        **dict(fields),
        pii=Pii(counts={"email": 2}, records=1),
    )
    assert report.to_json() == g["report"]
    assert json.dumps(report.to_json()) == json.dumps(g["report"])  # the same keys in the same order


def test_trigger_reason_is_written_only_when_the_report_task_set_it() -> None:
    older = Report(workload_id="w")
    assert "trigger_reason" not in older.to_json()  # reports without it dump as before
    why = {"started_by": "log_watch", "asset": "flywheel://logs/w", "reason": "new_records", "records_since": 25}
    newer = Report(workload_id="w")
    newer.trigger_reason = dict(why)
    assert newer.to_json()["trigger_reason"] == why
    assert Report.model_validate(newer.to_json()).stored_json()["trigger_reason"] == why
