"""End to end through ``flywheel datasets``: planted PII never reaches a file and is counted by kind,
look-alikes are kept; every line of a mixed file is accounted for; Parquet equals JSONL."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from flywheel.cli import main
from tests.unit.datasets.factory import bulk_record, write
from tests.unit.privacy.test_redact import LOOK_ALIKES, PLANTED

OUTPUTS = ("eval.jsonl", "train.jsonl", "val.jsonl", "icl.jsonl")


def planted_corpus(path: Path) -> tuple[Path, dict[str, int]]:
    """Tool-calling logs; every third record carries one planted value, in turn in the user message, the
    tool-call arguments or a tool result, and every record carries a look-alike."""
    rng = random.Random(4)
    rows, expected = [], {}
    for i in range(240):
        rec = bulk_record(i, rng)
        msgs = rec["request"]["messages"]
        msgs[1]["content"] += f" ({LOOK_ALIKES[i % len(LOOK_ALIKES)]})"
        if i % 3 == 0:
            kind, value = PLANTED[(i // 3) % len(PLANTED)]
            place = (i // 3) % 3
            if place == 0:
                msgs[1]["content"] += f" Reach me via {value} please."
            elif place == 1 and rec["response"]["choices"][0]["message"].get("tool_calls"):
                call = rec["response"]["choices"][0]["message"]["tool_calls"][0]["function"]
                call["arguments"] = json.dumps({**json.loads(call["arguments"]), "contact": value})
            else:
                msgs += [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "t", "type": "function", "function": {"name": "get_order_status", "arguments": "{}"}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "t", "content": json.dumps({"customer_contact": value})},
                ]
            expected[kind] = expected.get(kind, 0) + 1
        rows.append(rec)
    return write(path, rows), expected


def run_cli(src: Path, out: Path, *extra: str) -> dict:
    argv = [
        "datasets",
        "--input",
        str(src),
        "--workload-id",
        "customer_service",
        "--eval-size",
        "20",
        "--limit",
        "100000",
        "--out",
        str(out),
        *extra,
    ]
    assert main(argv) == 0
    return json.loads((out / "stats.json").read_text())


def test_redact_leaves_no_planted_value_in_any_file_and_counts_by_kind(tmp_path):
    src, expected = planted_corpus(tmp_path / "logs.jsonl")
    stats = run_cli(src, tmp_path / "out", "--pii", "redact")
    written = "".join((tmp_path / "out" / f).read_text() for f in OUTPUTS)
    for _, value in PLANTED:
        assert value not in written
        assert json.dumps(value)[1:-1] not in written  # nor its JSON-escaped form
    for text in LOOK_ALIKES:
        assert text in written
    assert stats["pii"] == expected
    assert stats["pii_records"] == sum(expected.values())
    for f in OUTPUTS:
        for line in (tmp_path / "out" / f).read_text().splitlines():
            json.loads(line)


def test_drop_record_leaves_records_with_pii_out_and_counts_them(tmp_path):
    src, expected = planted_corpus(tmp_path / "logs.jsonl")
    stats = run_cli(src, tmp_path / "out", "--pii", "drop_record")
    assert stats["invalid"]["contains_pii"] == sum(expected.values())
    assert stats["used"] + stats["duplicates"] + stats["filtered"] + sum(stats["invalid"].values()) == stats["read"]
    written = "".join((tmp_path / "out" / f).read_text() for f in OUTPUTS)
    assert "Reach me via" not in written and "customer_contact" not in written


def test_off_keeps_text_as_logged(tmp_path):
    src, _ = planted_corpus(tmp_path / "logs.jsonl")
    stats = run_cli(src, tmp_path / "out", "--pii", "off")
    assert "pii" not in stats
    assert "alice.smith@example.com" in "".join((tmp_path / "out" / f).read_text() for f in OUTPUTS)


def test_builds_with_pii_are_deterministic(tmp_path):
    src, _ = planted_corpus(tmp_path / "logs.jsonl")
    run_cli(src, tmp_path / "a", "--pii", "redact")
    run_cli(src, tmp_path / "b", "--pii", "redact")
    for f in (*OUTPUTS, "stats.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_every_line_of_a_mixed_file_is_accounted_for(tmp_path):
    rng = random.Random(9)
    good = [bulk_record(i, rng) for i in range(60)]
    no_wid = {k: v for k, v in bulk_record(100, rng).items() if k != "workload_id"}
    lines: list = [
        *good,
        no_wid,
        {**bulk_record(101, rng), "workload_id": 7},
        {**bulk_record(102, rng), "workload_id": None},
        bulk_record(103, rng, workload_id="billing"),
        bulk_record(104, rng, workload_id="billing"),
        "",
        "   ",
        "{not json",
        "[1, 2]",
        {**bulk_record(105, rng), "request": "not an object"},
    ]
    src = write(tmp_path / "mixed.jsonl", lines)
    stats = run_cli(src, tmp_path / "out", "--pii", "off")
    n_lines = len(src.read_text().splitlines())
    assert stats["read"] + stats["other_workloads"] + stats["blank_lines"] == n_lines == stats["lines"]
    assert stats["other_workloads"] == 2 and stats["blank_lines"] == 2
    assert stats["invalid"] == {
        "missing_workload_id": 2,
        "wrong_type_workload_id": 1,
        "not_json": 1,
        "not_object": 1,
        "wrong_type_request": 1,
    }


def test_client_filter_counts_other_clients_and_unattributable_lines(tmp_path):
    rng = random.Random(2)
    rows = [bulk_record(i, rng) for i in range(40)]
    rows += [bulk_record(50, rng, client_id="someone-else"), {**bulk_record(51, rng), "client_id": 3}]
    src = write(tmp_path / "logs.jsonl", rows)
    stats = run_cli(src, tmp_path / "out", "--pii", "off", "--client-id", "aiva-1")
    assert stats["other_workloads"] == 1 and stats["invalid"] == {"wrong_type_client_id": 1}
    assert stats["read"] + stats["other_workloads"] + stats["blank_lines"] == len(rows)


def test_parquet_input_gives_the_same_files_as_jsonl(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    src, _ = planted_corpus(tmp_path / "logs.jsonl")
    rows = [json.loads(x) for x in src.read_text().splitlines()]
    for r in rows:  # JSON columns, as a log pipeline would write them
        r["request"], r["response"] = json.dumps(r["request"]), json.dumps(r["response"])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "logs.parquet")
    a = run_cli(src, tmp_path / "a", "--pii", "redact")
    b = run_cli(tmp_path / "logs.parquet", tmp_path / "b", "--pii", "redact")
    assert a == b
    for f in OUTPUTS:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def _in_workers(monkeypatch) -> None:
    """Scan in 3 worker processes over byte ranges of even a small file, and write in workers too."""
    from flywheel.datasets import pipeline, write

    monkeypatch.setattr(pipeline, "PARALLEL_SCAN_BYTES", 0)
    monkeypatch.setattr(write, "PARALLEL_WRITE_ROWS", 0)
    monkeypatch.setenv("FLYWHEEL_SCAN_WORKERS", "3")


def test_redaction_and_its_counts_are_the_same_when_scanned_by_worker_processes(tmp_path, monkeypatch):
    src, expected = planted_corpus(tmp_path / "logs.jsonl")
    one = run_cli(src, tmp_path / "one", "--pii", "redact")
    _in_workers(monkeypatch)
    three = run_cli(src, tmp_path / "three", "--pii", "redact")
    assert three == one and three["pii"] == expected
    for f in OUTPUTS:
        assert (tmp_path / "three" / f).read_bytes() == (tmp_path / "one" / f).read_bytes()


def test_every_line_of_a_mixed_file_is_accounted_for_by_worker_processes(tmp_path, monkeypatch):
    _in_workers(monkeypatch)
    test_every_line_of_a_mixed_file_is_accounted_for(tmp_path)


def test_no_planted_value_of_the_privacy_corpus_reaches_any_file_and_places_are_counted(tmp_path):
    from tests.unit.privacy.corpus import corpus, leaks

    examples = corpus(520)  # every kind in every place twice
    src = write(tmp_path / "logs.jsonl", [e.record for e in examples])
    argv = ["datasets", "--input", str(src), "--workload-id", "privacy", "--eval-size", "40", "--out"]
    assert main([*argv, str(tmp_path / "out"), "--pii", "redact"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["used"] == len(examples)
    lines = [line for name in OUTPUTS for line in (tmp_path / "out" / name).read_text().splitlines()]
    assert len(lines) > len(examples)  # eval + train + val cover every record; ICL prompts come on top
    leaked = [(p.kind, p.place) for e in examples for p in e.plants if leaks(p.value, lines)]
    assert leaked == []
    assert stats["pii_records"] == len(examples)
    assert sum(stats["pii"].values()) == sum(n for kinds in stats["pii_places"].values() for n in kinds.values())
    places = stats["pii_places"]
    assert sum(places["request.user"].values()) == 40  # an e-mail as the end-user id counts as an e-mail
    assert places["request.messages[system].content"]["secret"] >= 4
    assert "response.choices[].message.tool_calls[].function.arguments.password" in places
    assert "request.metadata.client_ip" in places
