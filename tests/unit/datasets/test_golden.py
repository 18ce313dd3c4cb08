"""The streaming build writes byte-identical files to the build before it (digests in golden/expected.json,
made by the pre-rewrite code), for plain, gzip and Parquet inputs; stats only gain the new counters."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tests.unit.datasets.golden.corpus import CASES
from tests.unit.datasets.golden.make import run_case

EXPECTED = json.loads((Path(__file__).parent / "golden" / "expected.json").read_text())
NEW_STATS = {"other_workloads", "blank_lines", "lines", "invalid_first_line", "max_record_bytes"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_files_are_byte_identical_to_the_pre_streaming_build(name, tmp_path):
    got = run_case(name, tmp_path)
    want = EXPECTED[name]
    assert got["files"] == want["files"]
    assert {k: v for k, v in got["stats"].items() if k not in NEW_STATS} == want["stats"]
    s = got["stats"]
    assert s["read"] == s["used"] + sum(s["invalid"].values()) + s["duplicates"] + s["filtered"]


def _compressed(src: Path, dst: Path) -> Path:
    with src.open("rb") as f, gzip.open(dst, "wb") as g:
        shutil.copyfileobj(f, g)
    return dst


@pytest.mark.parametrize("name", ["tool_unlimited", "class_limit_120_small_window"])
def test_gzip_input_gives_the_same_files(name, tmp_path):
    from tests.unit.datasets.golden import make

    corpus, *_ = CASES[name]
    original = make.CASES[name]
    gz_corpus = lambda path: _compressed(corpus(path.with_suffix(".plain")), path.with_suffix(".jsonl.gz"))  # noqa: E731
    make.CASES[name] = (gz_corpus, *original[1:])
    try:
        got = run_case(name, tmp_path)
    finally:
        make.CASES[name] = original
    assert got["files"] == EXPECTED[name]["files"]


@pytest.mark.parametrize("name", ["tool_unlimited", "tool_limit_150"])
def test_scan_and_write_split_across_worker_processes_give_the_same_files(name, tmp_path, monkeypatch):
    from flywheel.datasets import pipeline, write

    monkeypatch.setattr(pipeline, "PARALLEL_SCAN_BYTES", 0)
    monkeypatch.setattr(write, "PARALLEL_WRITE_ROWS", 0)
    monkeypatch.setenv("FLYWHEEL_SCAN_WORKERS", "3")
    got = run_case(name, tmp_path)
    assert got["files"] == EXPECTED[name]["files"]
    assert {k: v for k, v in got["stats"].items() if k not in NEW_STATS} == EXPECTED[name]["stats"]
