"""Sample logs: deterministic, schema-valid good records, realistic class skew, counted bad lines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from flywheel.sampledata import generate, write

LABEL = re.compile(r"\[\[+(.+?)\]\]+")


def good(records):
    return [r for r in records if isinstance(r, dict) and r.get("response") and r["request"].get("messages")]


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write(a, "tool_calling", 300, seed=5)
    write(b, "tool_calling", 300, seed=5)
    write(c, "tool_calling", 300, seed=6)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("workload", ["tool_calling", "classification", "generic"])
def test_good_records_follow_the_log_schema(workload):
    rows = good(generate(workload, 400, seed=1, bad_fraction=0.0))
    assert len(rows) == 400
    for r in rows:
        assert isinstance(r["timestamp"], int) and r["workload_id"] and r["client_id"]
        assert r["request"]["messages"][-1]["role"] == "user"
        choice = r["response"]["choices"][0]
        assert choice["message"]["role"] == "assistant" and r["response"]["object"] == "chat.completion"
        if workload == "tool_calling":
            call = choice["message"]["tool_calls"][0]["function"]
            offered = {t["function"]["name"] for t in r["request"]["tools"]}
            assert call["name"] in offered and isinstance(json.loads(call["arguments"]), dict)
        elif workload == "classification":
            assert LABEL.search(choice["message"]["content"])
        else:
            assert choice["message"]["content"]


def test_classification_has_a_realistic_skew():
    labels = Counter(LABEL.search(r["response"]["choices"][0]["message"]["content"]).group(1)
                     for r in good(generate("classification", 3000, seed=3, bad_fraction=0.0)))
    assert len(labels) == 13
    top, rare = labels.most_common(1)[0], min(labels.values())
    assert top[0] in ("Stock price movement", "OTHER") and top[1] > 10 * rare


def test_bad_lines_and_duplicates_are_present_at_the_declared_rate():
    lines = list(generate("tool_calling", 5000, seed=9, bad_fraction=0.04, duplicate_fraction=0.02))
    not_json = sum(isinstance(x, str) for x in lines)
    broken = sum(1 for x in lines if isinstance(x, dict) and (
        "response" not in x or not x["request"]["messages"]
        or x["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "DeleteAllOrders"))
    assert 0.025 * 5000 < not_json + broken < 0.055 * 5000
    texts = Counter(" ".join(str(x["request"]["messages"][-1]["content"]).lower().split())
                    for x in lines if isinstance(x, dict) and x.get("request", {}).get("messages"))
    assert sum(n - 1 for n in texts.values() if n > 1) >= 50


def test_cli_writes_the_file_and_rejects_bad_arguments(tmp_path):
    out = tmp_path / "x.jsonl"
    ok = subprocess.run([sys.executable, "-m", "flywheel.cli", "sample-data", "--workload", "generic", "--records",
                         "10", "--out", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0 and len(out.read_text().splitlines()) == 10
    bad = subprocess.run([sys.executable, "-m", "flywheel.cli", "sample-data", "--workload", "generic", "--records",
                          "10", "--bad-fraction", "2", "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout.startswith("error:")
