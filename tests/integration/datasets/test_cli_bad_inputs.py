"""``flywheel datasets`` as a user runs it (a subprocess), on inputs users get wrong: each is refused with one
line naming the problem (its reason and line number), no traceback, ``stats.json`` saying why, and no dataset
file a later step could take for this run's output."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
WORKLOAD = "customer_service"
DATASETS = ("eval.jsonl", "train.jsonl", "val.jsonl", "icl.jsonl")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLYWHEEL_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "datasets", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "logs.jsonl"
    sample = ["sample-data", "--workload", "tool_calling", "--records", "300", "--seed", "3", "--out", str(path)]
    subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *sample],
        check=True,
        capture_output=True,
    )
    return path


def build(logs: Path, out: Path, *extra: str, workload: str = WORKLOAD) -> subprocess.CompletedProcess[str]:
    return cli("--input", str(logs), "--workload-id", workload, "--out", str(out), *extra)


def refused(out: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr[-2000:])
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stdout
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def failed_stats(out_dir: Path) -> dict[str, Any]:
    """The failure's stats.json, and no dataset file beside it."""
    stats = json.loads((out_dir / "stats.json").read_text())
    assert stats["error"]
    assert not [name for name in DATASETS if (out_dir / name).exists()]
    assert not [p.name for p in out_dir.iterdir() if p.name != "stats.json"], list(out_dir.iterdir())
    return stats


def test_a_truncated_gzip_names_the_line_it_broke_at(logs: Path, tmp_path: Path) -> None:
    whole = gzip.compress(logs.read_bytes())
    truncated = tmp_path / "logs.jsonl.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    line = refused(build(truncated, tmp_path / "out"), "cannot read past line", "truncated or corrupt")
    assert str(truncated) in line
    failed_stats(tmp_path / "out")


def test_out_naming_a_file_is_refused_and_the_file_is_untouched(logs: Path, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    refused(build(logs, target), f"output directory {target} is a file")
    assert target.read_text() == "mine\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("binary.jsonl", bytes(range(256)) * 40, ("not_json", "(first at line 1)", "binary")),
        ("array.jsonl", None, ("not_object 1 (first at line 1)", "JSON array")),
        ("pretty.json", "indent", ("not_json", "(first at line 1)", "JSON array")),
        ("gzipped.jsonl", "gzip", ("not_json", "gzip-compressed: name it .gz")),
    ],
)
def test_not_json_lines_says_what_the_file_is(
    logs: Path, tmp_path: Path, name: str, content: Any, expected: tuple[str, ...]
) -> None:
    path = tmp_path / name
    records = [json.loads(x) for x in logs.read_text().splitlines() if x.startswith("{") and x.endswith("}")][:30]
    if content is None:
        path.write_text(json.dumps(records))
    elif content == "indent":
        path.write_text(json.dumps(records, indent=2))
    elif content == "gzip":
        path.write_bytes(gzip.compress(logs.read_bytes()))
    else:
        path.write_bytes(content)
    refused(build(path, tmp_path / "out"), "0 usable records", *expected)
    stats = failed_stats(tmp_path / "out")
    assert stats["invalid_first_line"].get("not_json", stats["invalid_first_line"].get("not_object")) == 1


def test_a_misspelt_workload_id_names_the_known_ones(logs: Path, tmp_path: Path) -> None:
    refused(
        build(logs, tmp_path / "out", workload="customer_servise"),
        "no such workload 'customer_servise'",
        "(known: customer_service)",
    )
    failed_stats(tmp_path / "out")


def test_an_empty_or_missing_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    refused(build(empty, tmp_path / "out"), "has no records (empty file)")
    refused(build(tmp_path / "absent.jsonl", tmp_path / "out2"), "log file not found")
    refused(build(tmp_path, tmp_path / "out4"), f"{tmp_path} is a directory, not a log file")
    refused(cli("--input", str(empty), "--workload-id", "w", "--out", str(tmp_path / "o5"), "--context-length", "9"))
    parquet = tmp_path / "fake.parquet"
    parquet.write_text("not parquet")
    refused(build(parquet, tmp_path / "out3"), "not a readable Parquet file")


def test_outputs_are_replaced_not_mixed(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert build(logs, out).returncode == 0
    assert (out / "icl.jsonl").is_file()
    ok = build(logs, out, "--no-icl")
    assert ok.returncode == 0, ok.stdout
    assert sorted(p.name for p in out.iterdir()) == ["eval.jsonl", "stats.json", "train.jsonl", "val.jsonl"]
    # a failed build leaves its stats.json and no datasets of the earlier build to be taken for its own
    refused(build(logs, out, workload="nobody"), "no such workload 'nobody'")
    stats = failed_stats(out)
    assert stats["workload_id"] == "nobody" and "no such workload" in stats["error"]


def test_bad_option_values_are_one_line(logs: Path, tmp_path: Path) -> None:
    refused(build(logs, tmp_path / "o", "--seed", "-1"), "--seed:")
    refused(build(logs, tmp_path / "o", "--eval-size", "0"), "--eval-size:")
    refused(build(logs, tmp_path / "o", "--max-record-bytes", "10"), "--max-record-bytes:")


def test_every_option_has_a_help_line() -> None:
    from flywheel.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    # every command but load (its options are another change's)
    for command in ("datasets", "check-config", "sample-data", "emulator", "judge-down"):
        actions = sub.choices[command]._actions  # type: ignore[attr-defined]
        missing = [a.option_strings or a.dest for a in actions if not a.help]
        assert not missing, (command, missing)


def _with_big_record(logs: Path, path: Path, size: int, at: int) -> None:
    lines = logs.read_text().splitlines(keepends=True)
    record = next(json.loads(x) for x in lines if x.startswith("{") and json.loads(x)["workload_id"] == WORKLOAD)
    record["request"]["messages"][-1]["content"] = "x" * size
    with path.open("w") as f:
        f.writelines(lines[: at - 1])
        f.write(json.dumps(record) + "\n")
        f.writelines(lines[at - 1 :])


def test_a_30mb_record_is_rejected_without_being_held(logs: Path, tmp_path: Path) -> None:
    """Peak RSS of the CLI (measured by a parent of its own, so no other child of this test counts)."""
    big = tmp_path / "big.jsonl"
    _with_big_record(logs, big, 30 * 2**20, at=151)
    out = tmp_path / "out"
    measure = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode); "
        "print(r.stdout, end=''); sys.stderr.write(r.stderr)"
    )
    cmd = [sys.executable, "-m", "flywheel.cli", "datasets", "--input", str(big), "--workload-id", WORKLOAD]
    run = subprocess.run(
        [sys.executable, "-c", measure, *cmd, "--out", str(out)], capture_output=True, text=True, check=True
    )
    first, *rest = run.stdout.splitlines()
    peak_kb, code = map(int, first.split())
    assert code == 0, (rest, run.stderr[-2000:])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["invalid"]["record_too_large"] == 1 and stats["invalid_first_line"]["record_too_large"] == 151
    assert stats["read"] == stats["used"] + sum(stats["invalid"].values()) + stats["duplicates"] + stats["filtered"]
    assert max(len(line) for line in (out / "eval.jsonl").read_bytes().splitlines()) < 2**20
    assert peak_kb < 200 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"


def test_max_record_bytes_option_counts_the_rejects(logs: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    _with_big_record(logs, big, 20_000, at=10)
    ok = build(big, tmp_path / "out", "--max-record-bytes", "16384")
    assert ok.returncode == 0, ok.stdout
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["invalid"]["record_too_large"] == 1 and stats["max_record_bytes"] == 16384
    assert stats["invalid_first_line"]["record_too_large"] == 10
    ok = build(big, tmp_path / "out2", "--max-record-bytes", "65536")
    assert "record_too_large" not in json.loads((tmp_path / "out2" / "stats.json").read_text())["invalid"]


def test_progress_lines_when_not_a_terminal(logs: Path, tmp_path: Path) -> None:
    ok = build(logs, tmp_path / "out")
    assert ok.returncode == 0
    assert "scan of logs.jsonl:" in ok.stderr and "records/s" in ok.stderr, ok.stderr
