"""Dataset pipeline throughput and memory: JSONL logs -> eval/train/val/ICL files, end to end.

Generates N synthetic tool-calling records (default 1,000,000; ~1.3 KB each with four tool schemas, out of
time order, 0.1 % broken lines, 2 % duplicates), then
runs `build_datasets` (limit 10,000) on the first 100,000 lines and on all N, each in a fresh process, and
prints records/s and peak RSS. Targets on 2 cores: >= 25k records/s; peak RSS at N within 1.3x of 100k.

Run: .venv/bin/python benchmarks/datasets.py [--records N] [--limit L]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from flywheel.config import IclConfig, SplitConfig
from flywheel.datasets import BuildOptions, build_datasets
src, out, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
opts = BuildOptions("customer_service", None, "tool_calling", SplitConfig(limit=limit), IclConfig(), 8192)
t0 = time.perf_counter()
r = build_datasets(src, opts, out)
dt = time.perf_counter() - t0
lines = sum(1 for _ in src.open("rb"))
print(json.dumps({"lines": lines, "seconds": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "read": r.stats["read"], "used": r.stats["used"]}))
"""


def run(path: Path, out: Path, limit: int) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out), str(limit)], capture_output=True, text=True, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--limit", type=int, default=10_000)
    args = ap.parse_args()
    sys.path[:0] = [str(ROOT / "include"), str(ROOT)]
    from tests.unit.datasets.factory import write_logs

    work = Path(tempfile.mkdtemp(prefix="flywheel-bench-ds-"))
    big = work / "logs.jsonl"
    t0 = time.perf_counter()
    write_logs(big, args.records, seed=1, bad_every=1000, dup_every=50)
    small = work / "logs-100k.jsonl"
    with big.open() as src, small.open("w") as dst:
        dst.writelines(itertools.islice(src, 100_000))
    size_kb = big.stat().st_size / args.records / 1024
    print(f"generated {args.records:,} records ({size_kb:.1f} KB each) in {time.perf_counter() - t0:.0f}s")
    base = run(small, work / "out-small", args.limit)
    full = run(big, work / "out-big", args.limit)
    for name, r in (("100k", base), (f"{args.records // 1000}k", full)):
        print(
            f"{name:>6}: {r['lines'] / r['seconds']:>9,.0f} records/s end to end ({r['seconds']:.1f}s), "
            f"peak RSS {r['rss_mb']:.0f} MB, used {r['used']:,} of {r['read']:,} read"
        )
    print(
        f"peak RSS ratio {args.records // 1000}k / 100k = {full['rss_mb'] / base['rss_mb']:.2f}x (target <= 1.3x); "
        f"throughput ratio = {(full['lines'] / full['seconds']) / (base['lines'] / base['seconds']):.2f}x"
    )


if __name__ == "__main__":
    main()
