"""DAG parse budget: each module in ``dags/`` imports in under ``BUDGET_S`` (after Airflow itself is warm).

The scheduler's dag-processor re-imports these files all the time, so their import cost is a budget; it is
not a test assertion (a busy machine is slower, not wrong). Prints the median of ``--repeat`` imports, each
in a fresh interpreter with the network blocked (the same probe as tests/dags), and exits 1 over budget.

Run: .venv/bin/python benchmarks/bench_dag_import.py [--repeat 5]   (or ``make bench``)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dags.dag_checks import import_seconds  # noqa: E402

BUDGET_S = 1.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 imports per file (make bench)")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 3
    over = []
    load = os.getloadavg()[0]
    for dag_file in sorted((ROOT / "dags").glob("*.py")):
        times = [import_seconds(dag_file, dict(os.environ)) for _ in range(args.repeat)]
        median = statistics.median(times)
        print(f"{dag_file.name:<28} median {median:.3f}s  min {min(times):.3f}s  budget {BUDGET_S:g}s  load {load:.1f}")
        if median >= BUDGET_S:
            over.append(dag_file.name)
    if over:
        print(f"over budget: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
