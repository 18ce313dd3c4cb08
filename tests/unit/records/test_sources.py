"""File sources (JSONL, gzip JSONL, Parquet): newest first, filters, window, limit, rejected lines kept;
connection URLs (never with credentials) for the search source; snapshots that carry rejected lines into the build."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flywheel.config import LogSourceConfig
from flywheel.records.sources import FileSource, es_client, export_snapshot, open_log_source
from flywheel.records.validation import Rejected
from tests.unit.datasets.factory import chat


def rows() -> list[dict]:
    out = [chat(f"q{i}", ts=100 + (i * 7) % 10) for i in range(10)]  # timestamps 100..109, shuffled
    out += [chat("other client", ts=200, client_id="z") | {"client_id": "z"}, chat("other workload", ts=300, wid="v")]
    return out


def write_jsonl(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


@pytest.fixture(params=["jsonl", "jsonl.gz", "parquet"])
def log_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"logs.{request.param}"
    if request.param == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(
            [{**r, "request": json.dumps(r["request"]), "response": json.dumps(r["response"])} for r in rows()]
        )
        pq.write_table(table, path)
        return path
    return write_jsonl(path, [json.dumps(r) for r in rows()] + ["not json at all", ""])


def test_newest_first_filtered_by_workload_and_client(log_file: Path) -> None:
    got = list(FileSource(log_file).iter_records("w", client_id="c"))
    records = [r for r in got if not isinstance(r, Rejected)]
    assert [r["timestamp"] for r in records] == list(range(109, 99, -1))
    assert all(r["workload_id"] == "w" and r["client_id"] == "c" for r in records)
    assert isinstance(records[0]["request"], dict)
    if log_file.suffix != ".parquet":
        assert [r.reason for r in got if isinstance(r, Rejected)] == ["not_json"]
    assert len(list(FileSource(log_file).iter_records("w"))) == len(got) + 1  # client z included


def test_window_and_limit(log_file: Path) -> None:
    since, until = datetime.fromtimestamp(102, UTC), datetime.fromtimestamp(107, UTC)
    records = [
        r for r in FileSource(log_file).iter_records("w", "c", since, until, limit=3) if not isinstance(r, Rejected)
    ]
    assert [r["timestamp"] for r in records] == [106, 105, 104]


def test_open_log_source_resolves_relative_paths_and_needs_a_uri(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [json.dumps(r) for r in rows()])
    source = open_log_source(LogSourceConfig(kind="file", path="a.jsonl"), base_dir=tmp_path)
    assert sum(1 for _ in source.iter_records("v")) == 1
    with pytest.raises(FileNotFoundError, match="log file not found"):
        open_log_source(LogSourceConfig(kind="file", path="missing.jsonl"), base_dir=tmp_path)
    with pytest.raises(ValueError, match="needs a client"):
        open_log_source(LogSourceConfig(kind="elasticsearch"))


@pytest.mark.parametrize(
    ("uri", "host", "auth"),
    [
        ("elasticsearch://10.0.0.5:9201/?scheme=https&verify_certs=false", "https://10.0.0.5:9201", ("u", "p@ss")),
        ("http://127.0.0.1:9200", "http://127.0.0.1:9200", None),
        ("opensearch://127.0.0.1", "http://127.0.0.1:9200", None),
    ],
)
@pytest.mark.filterwarnings("ignore:Connecting to .* verify_certs=False")
def test_connection_uris(uri: str, host: str, auth: tuple[str, str] | None) -> None:
    client = es_client(uri, basic_auth=auth)  # builds the client only: no request is sent
    node = client.transport.node_pool.all()[0].config
    assert f"{node.scheme}://{node.host}:{node.port}" == host
    header = client._headers.get("authorization")
    assert (base64.b64decode(header.split()[1]).decode() if header else None) == (":".join(auth) if auth else None)
    if "verify_certs" in uri:
        assert node.verify_certs is False


@pytest.mark.parametrize(
    "uri", ["http://u:p%40ss@h:9200", "http://u:p@ss#w/rd:1@h", "https://h:9200/?api_key=abc", "http://u:pa#ss@h"]
)
def test_credentials_in_a_url_are_refused_without_repeating_them(uri: str) -> None:
    with pytest.raises(ValueError, match="carries credentials") as err:
        es_client(uri)
    assert not any(part in str(err.value) for part in ("p%40ss", "p@ss", "abc", "pa#ss"))


def test_snapshot_carries_rejected_lines_into_the_count(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [json.dumps(r) for r in rows()] + ["{oops", "[1]"])
    snap = tmp_path / "snap.jsonl"
    summary = export_snapshot(FileSource(src), snap, "w", "c", None, None, None)
    assert summary == {"read": 12, "written": 10, "rejected": {"not_json": 1, "not_object": 1}}
    again = [r for r in FileSource(snap).iter_records("w", "c") if isinstance(r, Rejected)]
    assert sorted(r.reason for r in again) == ["not_json", "not_object"]
