"""Dataset build throughput and memory with an unlimited ``limit``, against the pre-streaming build.

Generates N synthetic tool-calling log lines (~1.6 KB each, four tool schemas, out of time order, 0.1 % broken
lines, 2 % re-spaced duplicates, 5 % with an e-mail address and a phone number; the tests' own generator),
takes the first 100k / 1M / ... lines as inputs, and runs ``build_datasets`` (``split.limit`` None: every
unique record is used; ICL on) on each, in a fresh process per run:

- ``streaming``: this checkout, PII off;
- ``streaming+pii``: this checkout, ``pii.mode: redact`` with every built-in kind;
- ``baseline``: the build before the streaming rewrite (``--baseline-rev``, exported with ``git archive``),
  only up to ``--baseline-max`` lines (it holds every record in memory: ~10 KB each).

Prints wall time of ``build_datasets`` (imports included), records/s (lines / wall time), peak RSS of the
build process and of its worker processes, the 1-minute load average before the run, and whether the
streaming files equal the baseline's byte for byte. Outputs are deleted once compared, and the inputs at
the end unless ``--work`` names a folder to keep them in.

Run: .venv/bin/python benchmarks/datasets.py [--sizes 100000,1000000] [--baseline-max 1000000] [--pii-max N]
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "b70c20e"  # last commit before the streaming rewrite (issue 14)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from flywheel.config import IclConfig, SplitConfig
from flywheel.datasets import BuildOptions, build_datasets
src, out, pii = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
kw = {}
if pii != "none":
    from flywheel.config import PiiConfig
    kw["pii"] = PiiConfig(mode=pii)
opts = BuildOptions("customer_service", None, "tool_calling", SplitConfig(limit=None), IclConfig(), 8192, **kw)
t0 = time.perf_counter()
r = build_datasets(src, opts, out)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "read": r.stats["read"], "used": r.stats["used"], "pii": r.stats.get("pii")}))
"""


def run(path: Path, out: Path, pii: str, pythonpath: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out), pii], capture_output=True, text=True, env=env, check=False
    )
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def export_baseline(repo: Path, rev: str, dest: Path) -> Path:
    archive = dest / "baseline.tar"
    subprocess.run(["git", "-C", str(repo), "archive", "-o", str(archive), rev, "include"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "baseline", filter="data")
    return dest / "baseline" / "include"


def same_files(a: Path, b: Path) -> bool:
    names = ("eval.jsonl", "train.jsonl", "val.jsonl", "icl.jsonl")
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated line counts")
    ap.add_argument("--baseline-max", type=int, default=1_000_000, help="largest input the baseline runs on")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--repo", default=str(ROOT), help="git repository holding --baseline-rev")
    ap.add_argument("--pii-max", type=int, default=1_000_000, help="largest input the PII run uses")
    ap.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temp folder)")
    ap.add_argument("--quick", action="store_true", help="20k lines, no baseline (make bench)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.baseline_max, args.pii_max = "20000", 0, 20000
    sizes = sorted(int(s) for s in args.sizes.split(","))
    sys.path[:0] = [str(ROOT / "include"), str(ROOT)]
    from tests.unit.datasets.factory import write_logs

    keep = args.work is not None
    work = Path(args.work or tempfile.mkdtemp(prefix="flywheel-bench-ds-"))
    try:
        _run_all(args, sizes, work, write_logs)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _run_all(args: argparse.Namespace, sizes: list[int], work: Path, write_logs: Callable[..., object]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    big = work / f"logs-{sizes[-1]}.jsonl"
    t0 = time.perf_counter()
    if not big.exists():
        write_logs(big, sizes[-1], seed=1, bad_every=1000, dup_every=50, pii_every=20)
    inputs = {sizes[-1]: big}
    for n in sizes[:-1]:
        inputs[n] = work / f"logs-{n}.jsonl"
        with big.open("rb") as src, inputs[n].open("wb") as dst:
            dst.writelines(itertools.islice(src, n))
    print(f"inputs ready in {time.perf_counter() - t0:.0f}s ({big.stat().st_size / sizes[-1] / 1024:.2f} KB/line)")
    baseline_path = export_baseline(Path(args.repo), args.baseline_rev, work) if args.baseline_max > 0 else None
    header = f"{'lines':>10} {'build':>14} {'seconds':>8} {'records/s':>10} {'peak RSS':>9} {'workers':>8}  notes"
    print(header)
    for n in sizes:
        runs = [("streaming", "none", ROOT / "include")]
        if n <= args.pii_max:
            runs.append(("streaming+pii", "redact", ROOT / "include"))
        if baseline_path is not None and n <= args.baseline_max:
            runs.append(("baseline", "none", baseline_path))
        results = {}
        for name, pii, path in runs:
            out = work / f"out-{n}-{name}"
            load = os.getloadavg()[0]
            r = results[name] = run(inputs[n], out, pii, path)
            if "error" in r:
                print(f"{n:>10,} {name:>14} failed: {r['error']}")
                continue
            notes = f"load {load:.2f}; used {r['used']:,} of {r['read']:,} read"
            if r.get("pii") is not None:
                notes += f"; pii {r['pii']}"
            if name == "baseline" and "error" not in results.get("streaming", {"error": 1}):
                ratio = r["seconds"] / results["streaming"]["seconds"]
                identical = same_files(work / f"out-{n}-streaming", out)
                notes += f"; streaming is {ratio:.1f}x faster; files identical: {identical}"
            print(
                f"{n:>10,} {name:>14} {r['seconds']:>8.1f} {n / r['seconds']:>10,.0f} {r['rss_mb']:>7.0f}MB "
                f"{r['workers_rss_mb']:>6.0f}MB  {notes}",
                flush=True,
            )
            if name != "streaming":  # disk: 5M lines make ~6 GB of outputs (and ~13 GB of spill while building)
                shutil.rmtree(out, ignore_errors=True)
        if baseline_path is not None and n > args.baseline_max:
            print(f"{n:>10,} {'baseline':>14} skipped (needs ~10 KB of memory per used record)")
        shutil.rmtree(work / f"out-{n}-streaming", ignore_errors=True)


if __name__ == "__main__":
    main()
