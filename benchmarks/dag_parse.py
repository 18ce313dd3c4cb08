"""What every task process pays before our code runs: parsing the DAG file for its one DAG.

A task process is forked from an executor worker that has Airflow imported already; it then parses the DAG
file (``get_parsing_context().dag_id`` set, so ``dags/flywheel.py`` builds only that DAG). This forks as the
executor does and times, in each child, the parse of ``dags/flywheel.py`` for one workload against the parse
of the no-op DAG of the same shape (benchmarks/dags/noop_flywheel_shape.py): the difference is paid once per
task instance (34 in a 3-NIM run), on the critical path about a dozen times.

Run: .venv/bin/python benchmarks/dag_parse.py [--forks 20]   (--quick: 8 forks; ~30 s)
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))


def parse_in_child(path: Path, dag_id: str) -> float:
    """Fork; the child parses ``path`` for ``dag_id`` and reports its seconds through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a task process does before its task runs
        os.close(read)
        os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = dag_id  # get_parsing_context().dag_id
        started = time.perf_counter()
        runpy.run_path(str(path))
        os.write(write, json.dumps(time.perf_counter() - started).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        took = float(json.loads(pipe.read()))
    os.waitpid(pid, 0)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--forks", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    forks = 8 if args.quick else args.forks
    work = Path(tempfile.mkdtemp(prefix="flywheel-parse-"))
    cfg = (ROOT / "config" / "flywheel.yaml").read_text()
    (work / "flywheel.yaml").write_text(cfg)
    os.environ["FLYWHEEL_CONFIG"] = str(work / "flywheel.yaml")
    # what the executor worker has imported before it forks a task process
    import airflow.sdk
    import airflow.sdk.execution_time.task_runner  # noqa: F401
    from airflow.sdk import DAG, Asset, Param, task, task_group  # noqa: F401

    flywheel, noop = [], []
    for i in range(forks):
        pair = [(ROOT / "dags" / "flywheel.py", "flywheel_customer_service", flywheel)]
        pair.append((ROOT / "benchmarks" / "dags" / "noop_flywheel_shape.py", "noop_flywheel_shape", noop))
        for path, dag_id, times in pair if i % 2 == 0 else pair[::-1]:
            times.append(parse_in_child(path, dag_id))
    f, n = statistics.median(flywheel), statistics.median(noop)
    print(
        f"parse in a fresh task process, median of {forks}: dags/flywheel.py (one workload) {1000 * f:.0f} ms, "
        f"the no-op DAG of the same shape {1000 * n:.0f} ms -> {f / n:.1f}x, +{1000 * (f - n):.0f} ms per task"
    )
    print(json.dumps({"flywheel_ms": round(1000 * f), "noop_ms": round(1000 * n), "ratio": round(f / n, 2)}))


if __name__ == "__main__":
    main()
