"""Sample logs: deterministic, schema-valid good records, realistic class skew, and bad lines and duplicates
that the project's own record validation counts exactly as the generator declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from flywheel.datasets.keys import dedup_key
from flywheel.datasets.types import quality_problem
from flywheel.records.validation import Rejected, parse_line, validate
from flywheel.sampledata import DEFAULT_IDS, WORKLOAD_TYPES, generate, write

LABEL = re.compile(r"^\[\[\[(.+)\]\]\]$")
WORKLOADS = ["tool_calling", "classification", "generic", "support"]


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    for workload in WORKLOADS:
        a, b, c = tmp_path / f"{workload}-a.jsonl", tmp_path / f"{workload}-b.jsonl", tmp_path / f"{workload}-c.jsonl"
        write(a, workload, 300, seed=5)
        write(b, workload, 300, seed=5)
        write(c, workload, 300, seed=6)
        assert a.read_bytes() == b.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_good_records_follow_the_log_schema(workload):
    rows = list(generate(workload, 400, seed=1, bad_fraction=0.0, duplicate_fraction=0.0))
    assert len(rows) == 400
    for r in rows:
        assert isinstance(r, dict)
        assert set(r) == {"timestamp", "workload_id", "client_id", "request", "response"}
        assert isinstance(r["timestamp"], int) and 1_700_000_000 < r["timestamp"] < 2_000_000_000
        assert (r["workload_id"], r["client_id"]) == DEFAULT_IDS[workload]
        messages = r["request"]["messages"]
        assert messages[0]["role"] == "system" and messages[-1]["role"] == "user" and messages[-1]["content"]
        response = r["response"]
        assert response["object"] == "chat.completion" and response["id"].startswith("chatcmpl-")
        assert response["created"] == r["timestamp"] and response["model"] == r["request"]["model"]
        usage = response["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        choice = response["choices"][0]
        assert choice["message"]["role"] == "assistant"
        if workload == "tool_calling":
            assert choice["finish_reason"] == "tool_calls"
            call = choice["message"]["tool_calls"][0]["function"]
            offered = {t["function"]["name"]: t["function"]["parameters"] for t in r["request"]["tools"]}
            args = json.loads(call["arguments"])
            assert call["name"] in offered and set(offered[call["name"]]["required"]) <= set(args)
        elif workload == "classification":
            assert choice["finish_reason"] == "stop" and LABEL.match(choice["message"]["content"])
        else:
            assert choice["finish_reason"] == "stop" and choice["message"]["content"]
        assert not isinstance(validate(r), Rejected)


def test_tool_calls_carry_realistic_arguments():
    rows = list(generate("tool_calling", 2000, seed=2, bad_fraction=0.0, duplicate_fraction=0.0))
    calls = [(r, r["response"]["choices"][0]["message"]["tool_calls"][0]["function"]) for r in rows]
    names = Counter(f["name"] for _, f in calls)
    assert set(names) == {"ToProductQAAssistant", "ToOrderStatusAssistant", "ToReturnProcessing", "HandleOtherTalk"}
    assert names.most_common(1)[0][0] == "ToProductQAAssistant"
    for r, f in calls:
        args = json.loads(f["arguments"])
        user_id = re.search(r"user-\d{4}", r["request"]["messages"][0]["content"]).group(0)
        if f["name"] in ("ToOrderStatusAssistant", "ToReturnProcessing"):
            assert re.fullmatch(r"ORD-\d{6}", args["order_id"]) and args["user_id"] == user_id
        if f["name"] == "ToReturnProcessing":
            assert args["reason"]
    assert 0.15 < sum(len(r["request"]["messages"]) > 2 for r in rows) / len(rows) < 0.35  # some history turns
    assert len({r["request"]["messages"][-1]["content"] for r in rows}) > 1000  # varied phrasing


def test_classification_has_a_realistic_skew():
    rows = generate("classification", 3000, seed=3, bad_fraction=0.0, duplicate_fraction=0.0)
    labels = Counter(LABEL.match(r["response"]["choices"][0]["message"]["content"]).group(1) for r in rows)
    assert len(labels) == 13
    (top, top_n), rare = labels.most_common(1)[0], min(labels.values())
    assert top in ("Stock price movement", "OTHER") and top_n > 10 * rare
    assert labels["Analyst Rating"] > labels["Credit Ratings"] and labels["Regulatory"] > 0


@pytest.mark.parametrize("workload", WORKLOADS)
def test_validation_counts_exactly_the_declared_bad_lines_and_duplicates(tmp_path, workload):
    out = tmp_path / "logs.jsonl"
    summary = write(out, workload, 3000, seed=7, bad_fraction=0.05, duplicate_fraction=0.02)
    assert summary["lines"] == 3000 == len(out.read_text().splitlines())
    assert (
        summary["good"] + summary["duplicates"] + summary["near_duplicates"] + sum(summary["invalid"].values()) == 3000
    )
    assert 0.03 * 3000 < sum(summary["invalid"].values()) < 0.07 * 3000
    declared = summary["duplicates"] + summary["near_duplicates"]
    assert summary["duplicates"] > 0 and summary["near_duplicates"] > 0 and 0.01 * 3000 < declared < 0.03 * 3000
    assert len(summary["invalid"]) >= 4  # several kinds of bad line, each counted by its reason

    rejected: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    with out.open() as f:
        for line in f:
            record = validate(parse_line(line))
            if isinstance(record, Rejected):
                rejected[record.reason] += 1
            elif problem := quality_problem(record, WORKLOAD_TYPES[workload]):
                rejected[problem] += 1
            else:
                keys[dedup_key(record)] += 1
    assert dict(rejected) == summary["invalid"]
    repeats = sum(n - 1 for n in keys.values())
    assert declared <= repeats < declared + 0.1 * 3000  # accidental repeats of common questions stay rare


def test_one_kb_per_record_order_of_magnitude(tmp_path):
    for workload, (low, high) in {
        "tool_calling": (1200, 2600),
        "classification": (600, 1400),
        "generic": (350, 900),
    }.items():
        out = tmp_path / f"{workload}.jsonl"
        write(out, workload, 500, seed=4)
        assert low < out.stat().st_size / 500 < high, workload


def test_bad_arguments_are_rejected_before_any_file_is_written(tmp_path):
    out = tmp_path / "never.jsonl"
    for kwargs in (
        {"workload": "chat", "records": 1},
        {"workload": "generic", "records": -1},
        {"workload": "generic", "records": 1, "bad_fraction": 1.5},
        {"workload": "generic", "records": 1, "bad_fraction": 0.6, "duplicate_fraction": 0.5},
    ):
        with pytest.raises(ValueError):
            write(out, seed=1, **kwargs)
    assert not out.exists()


def test_cli_writes_the_file_with_ids_and_rejects_bad_arguments(tmp_path):
    out = tmp_path / "x.jsonl"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "flywheel.cli",
            "sample-data",
            "--workload",
            "classification",
            "--records",
            "200",
            "--seed",
            "3",
            "--out",
            str(out),
            "--workload-id",
            "news_v2",
            "--client-id",
            "desk-7",
            "--bad-fraction",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "200 lines" in ok.stdout and "invalid: none" in ok.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 200 and {(r["workload_id"], r["client_id"]) for r in rows} == {("news_v2", "desk-7")}
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "flywheel.cli",
            "sample-data",
            "--workload",
            "generic",
            "--records",
            "10",
            "--bad-fraction",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stdout.startswith("error:") and len(bad.stdout.splitlines()) == 1
