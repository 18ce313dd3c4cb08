"""Reproduce (or rule out) the early-resume failure behind ``platform.min_defer_s`` (apache/airflow#72716).

Starts the local stack (LocalExecutor, SQLite, real scheduler + triggerer) with the DAGs of
benchmarks/dags/defer_race.py: 5 mapped tasks that each defer 4 times in a row on a trigger firing
``delay_s`` after deferring (20 deferrals per run). For each variant and delay it runs the DAG ``--runs``
times and prints deferrals, failed task instances, and the scheduler's "state mismatch" lines (the
signature of the race: the executor's success event from the deferring execution's exit is handled after
the resumed try was already queued or running, and the scheduler fails the task instance).

Run: flock /work/.heavy-tests.lock .venv/bin/python benchmarks/defer_race.py [--runs 2] [--delays 0,1]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flywheel.localstack.stack import LocalStack  # noqa: E402

DEFERRED = "Pausing task as DEFERRED"
# The supervisor of an execution that deferred: how long it ran, so how late its executor event was.
FINISHED = re.compile(r"Workload finished .*?duration=([0-9.]+) .*?final_state=deferred")
MISMATCH = re.compile(
    r"reported that the task instance (.*?) finished with state (\w+), but the task instance's state attribute is (\w+)"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--delays", default="0,1")
    ap.add_argument("--variants", default="defer_race_plain,defer_race_finally")
    ap.add_argument("--env", action="append", default=[], help="extra Airflow setting, e.g. AIRFLOW__X__Y=1")
    ap.add_argument("--quick", action="store_true", help="one run of the plain variant at delay 0 (make bench)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.delays, args.variants = 1, "0", "defer_race_plain"
    extra_env = dict(e.split("=", 1) for e in args.env)

    work = Path(tempfile.mkdtemp(prefix="flywheel-defer-race-"))
    dags = work / "dags"
    dags.mkdir()
    (dags / "defer_race.py").symlink_to(ROOT / "benchmarks" / "dags" / "defer_race.py")
    cfg = work / "flywheel.yaml"
    cfg.write_text(yaml.safe_dump({"log_source": {"kind": "file", "path": str(work / "none.jsonl")}}))
    stack = LocalStack(
        workdir=work / "stack",
        config_path=cfg,
        dags_folder=dags,
        pools_file=ROOT / "config" / "pools.json",
        parallelism=8,
        extra_env=extra_env,
    )
    stack.start()
    sched_log = stack.logs / "scheduler.log"
    rows = []
    try:
        api = stack.api
        for dag in args.variants.split(","):
            api.wait_for_dag(dag)
        for dag in args.variants.split(","):
            for delay in (float(d) for d in args.delays.split(",")):
                for n in range(args.runs):
                    seen = len(sched_log.read_text(errors="replace")) if sched_log.exists() else 0
                    rid = f"d{delay:g}-{n}-{int(time.time() * 1000)}"
                    api.trigger(dag, {"delay_s": delay}, rid).raise_for_status()
                    started = time.monotonic()
                    state = api.wait_run(dag, rid, timeout=600)
                    wall = time.monotonic() - started
                    tis = api.task_instances(dag, rid)
                    failed = [t for t in tis if t["state"] != "success"]
                    new_log = sched_log.read_text(errors="replace")[seen:]
                    mismatches = [m.groups() for m in MISMATCH.finditer(new_log) if rid in m.group(1)]
                    deferrals = sum(1 for line in new_log.splitlines() if DEFERRED in line and rid in line)
                    supervised = [float(m.group(1)) for m in FINISHED.finditer(new_log)]
                    rows.append(
                        {
                            "dag": dag,
                            "delay_s": delay,
                            "run": rid,
                            "state": state,
                            "wall_s": round(wall, 1),
                            "deferrals": deferrals,
                            "deferring_supervisors_s": sorted(round(d, 1) for d in supervised),
                            "failed_tis": len(failed),
                            "mismatch": [f"executor={m[1]} ti_state={m[2]}" for m in mismatches],
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        stack.stop()
    print(f"logs: {stack.logs}")
    for dag in args.variants.split(","):
        for delay in (float(d) for d in args.delays.split(",")):
            mine = [r for r in rows if r["dag"] == dag and r["delay_s"] == delay]
            deferrals = sum(r["deferrals"] for r in mine)
            failed = sum(r["failed_tis"] for r in mine)
            late = sum(1 for r in mine for d in r["deferring_supervisors_s"] if d > 4.0)
            supervisors = sum(len(r["deferring_supervisors_s"]) for r in mine)
            wall = sum(r["wall_s"] for r in mine) / max(1, len(mine))
            print(
                f"{dag} delay {delay:g}s: {len(mine)} runs, {deferrals} deferrals, {failed} failed task "
                f"instances, {sum(len(r['mismatch']) for r in mine)} state mismatches, mean wall {wall:.1f}s; "
                f"{late}/{supervisors} deferring executions reported their exit more than 4s late"
            )


if __name__ == "__main__":
    main()
