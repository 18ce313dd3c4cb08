"""Issue 24 under a real scheduler: a judge-scored workload (the sample ``support`` answers, generic, scored by
the judge's similarity) runs twice against the emulator. With the emulator's judge (real ratings) the judge
passes its probes and the cheapest candidate meeting the bar is recommended; with the ``judge_always_top``
fault (a judge answering the top rating to everything, in evaluations and over chat) the same workload's
recommendation is withheld with a reason naming the judge. Every paired and slice figure of the report is
recomputed from the rows artifacts the evaluations wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.airflow.rows_store import read_rows
from flywheel.decision.paired import paired_difference
from flywheel.decision.rows import metric_values
from flywheel.decision.slices import slice_table
from flywheel.localstack.processes import free_port
from flywheel.localstack.stack import LocalStack

from .stack import make_stack, reset_emulator, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"
JUDGE = "meta/llama-3.3-70b-instruct"
DAG = "flywheel_support_answers"
METRIC = "similarity"
BAR = 0.3


def stack_config(logs: Path, emulator_url: str) -> dict[str, Any]:
    return {
        "platform": {
            "namespace": "fwtrust",
            "poll_initial_s": 0.5,
            "poll_max_s": 2.0,
            "lease_poll_s": 8.0,
            "request_timeout_s": 30,
            "max_retries": 3,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "remote", "model_name": JUDGE},  # LocalStack's flywheel_judge: the emulator's chat
        "airflow": {"retries": 0},
        "pricing": {"gpu_hour_usd": {"L40S": 1.2}},
        "latency": {"prompts": 8, "concurrency": 4, "max_seconds": 30},
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 30, "min_total_records": 20, "limit": 200, "random_seed": 3},
            "icl": {"enabled": False},
            "selection": {"approval": "off", "min_quality": BAR},
            # production as a reference experiment: the 70B model the logs came from, where it answers
            "production": {
                "model_name": JUDGE,
                "price": {"usd_per_1m_input_tokens": 0.9, "usd_per_1m_output_tokens": 0.9},
                "served_url": emulator_url,
            },
        },
        "workloads": [{"workload_id": "support_answers", "client_id": "support-desk", "workload_type": "generic"}],
        "nims": [
            {"model_name": SMALL, "gpu_type": "L40S", "customization_enabled": False},
            {"model_name": LARGE, "gpu_type": "L40S", "customization_enabled": False},
        ],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("flywheel-trust")
    logs = work / "logs.jsonl"
    subprocess.run(
        [
            *(sys.executable, "-m", "flywheel.cli", "sample-data"),
            *("--workload", "support", "--records", "160", "--seed", "11", "--out", str(logs)),
        ],
        check=True,
        capture_output=True,
    )
    emulator_cfg = work / "emulator.yaml"
    # the larger model is slower, so the smaller one is the cheaper candidate
    emulator_cfg.write_text(
        yaml.safe_dump({"gpus": 2, "latency": {"base_ms": 20.0, "scale": {SMALL: 1.0, LARGE: 2.5}}})
    )
    port = free_port()
    config = stack_config(logs, f"http://127.0.0.1:{port}")
    s = make_stack(
        work, config, emulator_port=port, emulator_args=["--config", str(emulator_cfg)], connections_in_metastore=True
    )
    s.run_cli(["flywheel", "check-config", str(s.config_path)])
    with running(s, DAG):
        yield s


def run_once(stack: LocalStack, tag: str, faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reset_emulator(stack, faults)
    rid = f"{tag}-{uuid.uuid4().hex[:8]}"
    r = stack.api.trigger(DAG, None, rid)
    assert r.status_code == 200, r.text
    assert stack.api.wait_run(DAG, rid, timeout=1200) == "success", stack.api.task_states(DAG, rid)
    report: dict[str, Any] = stack.api.xcom(DAG, rid, "report")
    return report


def recompute(report: dict[str, Any]) -> None:
    """The report's intervals, paired comparisons and slices, recomputed from its rows artifacts alone."""
    rows = {(e["nim"], e["experiment"]): read_rows(e["rows_url"]) for e in report["results"] if e.get("rows_url")}
    assert rows, "no rows artifact"
    for e in report["results"]:
        if e["status"] == "completed":
            values = list(metric_values(rows[(e["nim"], e["experiment"])], METRIC).values())
            assert e["scores"][METRIC] == pytest.approx(sum(values) / len(values), abs=1e-9)
    rec = report["recommendation"] or {}
    if not report.get("slices"):
        return
    name = rec.get("nim"), rec.get("experiment")
    if not rec:  # withheld: the figures are the candidate's the reason names after "otherwise"
        reason = report["recommendation_note"]["reason"].split("otherwise: ", 1)[1]
        name = next(k for k in rows if reason.startswith(f"{k[0]} {k[1]} "))
    candidate = rows[name]
    best_row = max(
        (e for e in report["results"] if e["status"] == "completed"),
        key=lambda e: (e["scores"][METRIC], e["nim"], e["experiment"]),
    )
    best_key = (best_row["nim"], best_row["experiment"])
    best = rows[best_key] if best_key != name else None
    production = read_rows(report["production"]["rows_url"])
    bar = report["bar"]["min_quality"]
    assert report["slices"] == [
        s.model_dump(mode="json") for s in slice_table(candidate, METRIC, bar, best=best, production=production)
    ]
    margin = report["paired"][0]["margin"]
    references = ([(f"{best_key[0]} {best_key[1]}", best)] if best is not None else []) + [("production", production)]
    expected = [
        paired_difference(
            metric_values(candidate, METRIC),
            metric_values(ref_rows, METRIC),
            metric=METRIC,
            margin=margin,
            candidate_name=f"{name[0]} {name[1]}",
            reference_name=ref_name,
        ).model_dump(mode="json")
        for ref_name, ref_rows in references
    ]
    assert report["paired"] == expected


def test_the_judge_is_checked_before_it_is_believed(stack: LocalStack) -> None:
    good = run_once(stack, "good-judge")
    judge = good["judge"]
    assert judge["judge"] == JUDGE and judge["trusted"] is True, judge
    assert judge["probes"] > 0 and judge["probe_accuracy"] >= 0.8, judge
    rec = good["recommendation"]
    assert rec is not None, good["recommendation_note"]
    assert all(e.get("rows_url") for e in good["results"] if e["status"] == "completed")
    # production was evaluated on the same rows, without a deployment: the last paired reference
    assert good["production"]["rows_url"] and good["paired"][-1]["reference"] == "production"
    assert stack.stats()["jobs_created"]["deployment"] == 2  # the two candidates, none for production
    recompute(good)

    broken = run_once(stack, "top-judge", [{"kind": "judge_always_top"}])
    assert broken["recommendation"] is None
    reason = broken["recommendation_note"]["reason"]
    assert reason.startswith(f"withhold: judge {JUDGE} failed its probes"), reason
    assert broken["judge"]["trusted"] is False and broken["judge"]["by_kind"]["other_answer"]["passed"] == 0
    assert all(e["scores"][METRIC] == 1.0 for e in broken["results"] if e["status"] == "completed")
    recompute(broken)


class _TopJudge(BaseHTTPRequestHandler):
    """A judge of the test's own: the top rating to every prompt, in the OpenAI chat-completions shape."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "10"}}],
        }
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def top_judge() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TopJudge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_judge_connection_edited_through_rest_is_the_judge_that_is_checked(stack: LocalStack, top_judge: str) -> None:
    """As a user would: connection flywheel_judge pointed at another judge (here one that rates everything
    top) through the REST API; the next run probes that judge and withholds the recommendation naming it."""
    api = stack.api.http
    before = api.get("/connections/flywheel_judge")
    assert before.status_code == 200, before.text  # a row of the metadata database, not an env variable
    patched = api.patch(
        "/connections/flywheel_judge",
        json={"connection_id": "flywheel_judge", "conn_type": "http", "host": top_judge},
    )
    assert patched.status_code == 200, patched.text
    try:
        report = run_once(stack, "own-judge")
    finally:
        restored = {k: before.json()[k] for k in ("connection_id", "conn_type", "host")}
        assert api.patch("/connections/flywheel_judge", json=restored).status_code == 200
    assert report["recommendation"] is None
    reason = report["recommendation_note"]["reason"]
    assert reason.startswith(f"withhold: judge {JUDGE} failed its probes"), reason
    assert report["judge"]["trusted"] is False
