"""The raw (unredacted) log snapshot is not kept: ``artifacts.raw_snapshot_days`` 0 (the default) deletes it once
the datasets are built (``artifacts.remove``, local or object storage); N days keeps it that long."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flywheel.airflow import artifacts
from flywheel.config import ArtifactsConfig, load_config


def test_the_default_keeps_no_raw_snapshot_and_negative_days_are_refused():
    assert ArtifactsConfig().raw_snapshot_days == 0
    assert load_config().artifacts.raw_snapshot_days == 0
    with pytest.raises(ValueError, match="raw_snapshot_days"):
        ArtifactsConfig(raw_snapshot_days=-1)


def test_remove_deletes_a_local_snapshot_folder(tmp_path: Path):
    folder = tmp_path / "flywheel_w" / "run-1" / "snapshot"
    folder.mkdir(parents=True)
    (folder / "records.jsonl").write_text('{"request": {"user": "jane@example.com"}}\n')
    artifacts.remove(str(folder))
    assert not folder.exists() and folder.parent.is_dir()
    artifacts.remove(str(folder))  # already gone: fine


def test_remove_deletes_the_files_of_a_snapshot_in_object_storage(tmp_path: Path, monkeypatch):
    # The built-in file:// filesystem takes the ObjectStoragePath code path once the base is treated as remote.
    monkeypatch.setattr(artifacts, "is_local", lambda uri: False)
    src = tmp_path / "local"
    src.mkdir()
    (src / "records.jsonl").write_text("raw\n")
    uri = f"file://{tmp_path}/store/flywheel_w/run-1/snapshot"
    artifacts.publish(src, uri)
    stored = tmp_path / "store" / "flywheel_w" / "run-1" / "snapshot" / "records.jsonl"
    assert stored.is_file()
    artifacts.remove(uri)
    assert not stored.exists()


def test_pruning_drops_snapshots_older_than_raw_snapshot_days_and_keeps_the_rest(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_ARTIFACTS", str(tmp_path))
    base = load_config()
    cfg = base.model_copy(update={"artifacts": ArtifactsConfig(raw_snapshot_days=2)})
    runs = {}
    for name, age_days in (("old", 3), ("recent", 1), ("current", 5)):
        snap = tmp_path / "flywheel_w" / name / "snapshot"
        snap.mkdir(parents=True)
        (snap / "records.jsonl").write_text("raw\n")
        (tmp_path / "flywheel_w" / name / "datasets").mkdir()
        stamp = time.time() - age_days * 86400
        os.utime(snap, (stamp, stamp))
        runs[name] = snap
    assert artifacts.prune_old_runs(cfg, "flywheel_w", "current") == []  # no run folder is 30 days old
    assert not runs["old"].exists() and (tmp_path / "flywheel_w" / "old" / "datasets").is_dir()
    assert runs["recent"].is_dir() and runs["current"].is_dir()
