"""`flywheel load` into a real OpenSearch-API server (osmem-server from PyPI, started by conftest.py), read
back through the Elasticsearch source, and the same datasets as from the file source; CLI error behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import IclConfig, LogSourceConfig, SplitConfig
from flywheel.datasets import BuildOptions, build_datasets
from flywheel.records.sources import es_client, export_snapshot, open_log_source
from tests.support.processes import free_port
from tests.unit.datasets.factory import write_logs

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flywheel.cli", *args], capture_output=True, text=True, timeout=300)


def test_load_read_back_and_identical_datasets(opensearch: str, tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    write_logs(logs, 400, seed=11, bad_every=37, dup_every=13)
    first = cli("load", "--input", str(logs), "--es-url", opensearch, "--index", "logs")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("loaded ") and "skipped 0" in first.stdout
    again = cli("load", "--input", str(logs), "--es-url", opensearch, "--index", "logs")
    assert again.returncode == 0 and again.stdout.startswith("loaded 0, skipped ")

    for limit in (None, 120):  # limit counts unique valid records on both paths
        options = BuildOptions(
            "customer_service",
            "aiva-1",
            "auto",
            SplitConfig(eval_size=20, random_seed=3, limit=limit),
            IclConfig(max_examples=2),
            8192,
        )
        outputs = {}
        for kind in ("file", "elasticsearch"):
            cfg = LogSourceConfig(kind=kind, index="logs", path=logs.name if kind == "file" else None)
            client = es_client(f"elasticsearch://{opensearch.split('//')[1]}/?scheme=http&request_timeout=20")
            source = open_log_source(cfg, client=client if kind == "elasticsearch" else None, base_dir=tmp_path)
            snap = tmp_path / f"{kind}-{limit}" / "snapshot.jsonl"
            summary = export_snapshot(source, snap, "customer_service", "aiva-1", None, None, limit)
            assert summary["written"] > (350 if limit is None else limit)
            outputs[kind] = build_datasets(snap, options, tmp_path / f"{kind}-{limit}" / "datasets")
        f, e = outputs["file"], outputs["elasticsearch"]
        for name in ("eval", "train", "val", "icl"):
            assert f.files[name].read_bytes() == e.files[name].read_bytes(), name
        # Non-JSON lines never reach the index (the loader counts them), so only those counts differ.
        assert f.stats["invalid"] == {"not_json": 10} and e.stats["invalid"] == {}
        assert f.stats["duplicates"] == e.stats["duplicates"] > 0
        assert f.stats["used"] == e.stats["used"] == (limit or f.stats["used"])
        direct = build_datasets(logs, options, tmp_path / f"direct-{limit}")
        assert direct.files["train"].read_bytes() == f.files["train"].read_bytes()


def test_datasets_command_errors_and_stats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{]\n")
    out = cli("datasets", "--input", str(bad), "--workload-id", "w", "--out", str(tmp_path / "o1"))
    assert out.returncode == 2 and len(out.stdout.strip().splitlines()) == 1 and out.stdout.startswith("error:")
    missing = cli("datasets", "--input", str(tmp_path / "nope.jsonl"), "--workload-id", "w", "--out", str(tmp_path))
    assert missing.returncode == 2 and "not found" in missing.stdout
    logs = tmp_path / "logs.jsonl"
    write_logs(logs, 300, seed=2, bad_every=20, dup_every=15)
    ok = cli(
        "datasets",
        "--input",
        str(logs),
        "--workload-id",
        "customer_service",
        "--eval-size",
        "30",
        "--out",
        str(tmp_path / "o2"),
    )
    assert ok.returncode == 0, ok.stdout
    stats = json.loads((tmp_path / "o2" / "stats.json").read_text())
    assert stats["workload_type"] == "tool_calling" and stats["invalid"] == {"not_json": 15}
    assert stats["duplicates"] == 15  # 20 repeats, 5 of which fall on a broken line
    assert stats["read"] == stats["used"] + sum(stats["invalid"].values()) + stats["duplicates"] + stats["filtered"]
    assert stats["read"] == 300
    assert sum(v["eval"] for v in stats["classes"].values()) == 30


def test_load_reports_an_unreachable_server_in_one_line(tmp_path: Path) -> None:
    logs = tmp_path / "l.jsonl"
    write_logs(logs, 5, seed=1)
    out = cli("load", "--input", str(logs), "--es-url", f"http://127.0.0.1:{free_port()}")
    assert out.returncode == 2 and out.stdout.startswith("error: cannot load") and len(out.stdout.splitlines()) == 1
    assert os.path.exists(logs)


def test_documents_without_record_id_and_equal_timestamps_are_each_read_once(opensearch: str) -> None:
    from elasticsearch.helpers import bulk

    from flywheel.records.loader import ensure_index
    from flywheel.records.sources import ElasticsearchSource

    client = es_client(opensearch)
    ensure_index(client, "foreign")
    # Written by another producer: server-generated ids, no record_id, 25 records per timestamp.
    docs = [{"timestamp": 1000 + i // 25, "workload_id": "w", "client_id": "c", "n": i} for i in range(100)]
    bulk(client, ({"_index": "foreign", "_source": d} for d in docs), refresh=True)
    source = ElasticsearchSource(client, "foreign", page_size=7)
    got = list(source.iter_records("w"))
    assert sorted(r["n"] for r in got) == list(range(100))
    assert [r["timestamp"] for r in got] == sorted((d["timestamp"] for d in docs), reverse=True)
    pit = source._open_pit()  # the OpenSearch point-in-time API is what makes this exact
    assert pit is not None and pit[0] == "opensearch"
    source._close_pit(pit)
    assert len(list(source.iter_records("w", limit=30))) == 30
