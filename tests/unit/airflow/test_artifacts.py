"""Artifacts round-trip through Airflow's ObjectStoragePath (the remote-store path), and local bases in place."""

from __future__ import annotations

from pathlib import Path

from flywheel.airflow import artifacts


def test_publish_and_fetch_through_object_storage(tmp_path: Path, monkeypatch):
    # s3:// and gs:// need their providers; the built-in file:// filesystem takes the same code path once
    # the base is treated as remote.
    monkeypatch.setattr(artifacts, "is_local", lambda uri: False)
    src = tmp_path / "datasets"
    (src / "sub").mkdir(parents=True)
    (src / "eval.jsonl").write_text('{"a": 1}\n')
    (src / "sub" / "stats.json").write_bytes(b"\x00binary\xff")
    uri = f"file://{tmp_path}/store/flywheel_w/run-1/datasets"
    artifacts.publish(src, uri)
    back = artifacts.fetch(uri)
    assert back != src and (tmp_path / "store" / "flywheel_w" / "run-1" / "datasets" / "eval.jsonl").is_file()
    assert (back / "eval.jsonl").read_text() == '{"a": 1}\n'
    assert (back / "sub" / "stats.json").read_bytes() == b"\x00binary\xff"


def test_local_base_is_used_in_place(tmp_path: Path):
    assert artifacts.is_local(str(tmp_path)) and artifacts.is_local(f"file://{tmp_path}")
    uri = str(tmp_path / "base" / "run")
    local = artifacts.local_dir_for(uri)
    assert local == Path(uri) and local.is_dir()
    assert artifacts.fetch(uri) == Path(uri)
