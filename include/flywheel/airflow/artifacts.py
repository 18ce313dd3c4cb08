"""Artifact storage shared by all workers: ``<base>/<dag_id>/<run_id>/{snapshot,datasets}/...``.

The base is ``$FLYWHEEL_ARTIFACTS``, else ``artifacts.base`` from config, else
``$AIRFLOW_HOME/flywheel-artifacts`` (fine for one machine). A remote base (``s3://``, ``gs://``, ...)
goes through Airflow's ``ObjectStoragePath``: tasks work on a local copy and publish it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig


def artifacts_base(cfg: FlywheelConfig) -> str:
    base = os.environ.get("FLYWHEEL_ARTIFACTS") or cfg.artifacts.base
    if not base:
        home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
        base = str(Path(home) / "flywheel-artifacts")
    return base.rstrip("/")


def is_local(base: str) -> bool:
    return "://" not in base or base.startswith("file://")


def _local(base: str) -> Path:
    return Path(base.removeprefix("file://"))


def safe_segment(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", value)[:200]


def run_uri(cfg: FlywheelConfig, dag_id: str, run_id: str, *parts: str) -> str:
    return "/".join([artifacts_base(cfg), safe_segment(dag_id), safe_segment(run_id), *parts])


def local_dir_for(uri: str) -> Path:
    """A local directory to write into: the artifact folder itself when local, else a temp folder."""
    if is_local(uri):
        path = _local(uri)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="flywheel-"))


def publish(local: Path, uri: str) -> None:
    """Copy a local folder's files to ``uri`` (no-op when ``uri`` is that local folder)."""
    if is_local(uri) and _local(uri).resolve() == local.resolve():
        return

    _copy_tree(local, ObjectStoragePath(uri))


def fetch(uri: str) -> Path:
    """A local folder with the files under ``uri`` (the folder itself when local)."""
    if is_local(uri):
        return _local(uri)

    local = Path(tempfile.mkdtemp(prefix="flywheel-"))
    _copy_tree(ObjectStoragePath(uri), local)
    return local


def _copy_tree(source: Any, target: Any) -> None:
    """Copy every file under ``source`` to ``target`` (local paths or ObjectStoragePath, either way)."""
    for f in source.rglob("*"):
        if f.is_file():
            dest = target / str(f.relative_to(source))
            dest.parent.mkdir(parents=True, exist_ok=True)
            with f.open("rb") as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)


def prune_old_runs(cfg: FlywheelConfig, dag_id: str, keep_run: str) -> list[str]:
    """Delete local run folders older than ``artifacts.retention_days``; returns what was removed."""
    base = artifacts_base(cfg)
    if not is_local(base):
        return []  # object stores have their own lifecycle rules; document rather than walk buckets
    folder = _local(base) / safe_segment(dag_id)
    if not folder.is_dir():
        return []
    cutoff = time.time() - cfg.artifacts.retention_days * 86400
    removed = []
    for run in folder.iterdir():
        if run.is_dir() and run.name != safe_segment(keep_run) and run.stat().st_mtime < cutoff:
            shutil.rmtree(run, ignore_errors=True)
            removed.append(run.name)
    return removed
