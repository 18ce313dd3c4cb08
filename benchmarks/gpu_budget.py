"""Wall time of several workloads' runs at GPU budgets 1, 2, 4 (issue 26), under a real scheduler.

For each budget a fresh local stack (emulator with that many GPUs, pool ``flywheel_gpu`` written by
``flywheel pools --write``, ``platform.gpu_budget`` in the config) runs every workload's DAG at once: 3 NIMs
per workload, every experiment (base, ICL, LoRA) on a zero-latency emulator. Prints per budget the wall time
from the first trigger to the last run's end, the speed-up against budget 1 (same process, same machine) and
the emulator's most GPUs in use at once (never above the budget). The emulator's customization jobs claim no
GPUs of their own: the lease counts a job within its deployment's GPUs, so the emulator's count is the lease's.

Run: .venv/bin/python benchmarks/gpu_budget.py [--budgets 1,2,4] [--workloads 4] [--platform-s S]
     --quick: budgets 1 and 2, two workloads (make bench)
     --platform-s S: deployments, customizations and evaluations take S seconds on the emulator (default 0:
     zero-latency, where the run is all orchestration and a budget can only add CPU contention)
     --demo-durations: the emulator's own durations, as in `make demo` (deployment 2 s, customization 5 s,
     evaluation 2 s), with the demo's polling (1 s -> 4 s, lease re-check 3 s)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flywheel.localstack.stack import LocalStack  # noqa: E402

NIMS = ["meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct", "meta/llama-3.1-8b-instruct"]
ZERO = ("deployment_ready_s", "job_created_s", "customization_s", "evaluation_s", "model_sync_s")


def durations(platform_s: float, demo: bool) -> dict[str, float]:
    """The emulator's job and deployment durations: all near zero, S seconds each, or its defaults (demo)."""
    if demo:
        return {}
    keys = ("deployment_ready_s", "customization_s", "evaluation_s")
    return {**dict.fromkeys(ZERO, 0.01), **(dict.fromkeys(keys, platform_s) if platform_s > 0 else {})}


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flywheel.cli", *args], check=True, capture_output=True)


def write_logs(path: Path, workloads: list[str]) -> None:
    with path.open("w") as out:
        for i, wid in enumerate(workloads):
            part = path.with_suffix(f".{i}.jsonl")
            args = f"sample-data --workload tool_calling --records 300 --seed {i + 1} --workload-id {wid}"
            cli(*args.split(), "--client-id", "bench", "--out", str(part))
            out.write(part.read_text())


def config(logs: Path, workloads: list[str], budget: int, demo: bool) -> dict[str, Any]:
    polls = {"poll_initial_s": 1.0, "poll_max_s": 4.0, "lease_poll_s": 3.0} if demo else {}
    return {
        "platform": {
            "namespace": "bench",
            "poll_initial_s": 2.0,
            "poll_max_s": 10.0,
            "lease_poll_s": 2.0,
            "gpu_budget": budget,
            **polls,
        },
        "log_source": {"kind": "file", "path": str(logs)},
        "judge": {"mode": "remote"},
        # one retry, as in the tests: on a loaded machine a fast lease re-check can lose Airflow's resume race
        # (apache/airflow#72716, see "Early resume after deferral") and the retry re-attaches
        "airflow": {"retries": 1, "retry_delay_s": 1},
        # measured, not decided: a recommendation never waits for a person
        "defaults": {
            "schedule": None,
            "split": {"eval_size": 20, "min_total_records": 20},
            "selection": {"approval": "off"},
        },
        "workloads": [{"workload_id": wid, "client_id": "bench", "workload_type": "tool_calling"} for wid in workloads],
        "nims": [{"model_name": n, "customization_enabled": True, "customizer": {"target": f"{n}@2.0"}} for n in NIMS],
    }


def run_budget(
    budget: int, workloads: list[str], work: Path, logs: Path, platform_s: float, demo: bool
) -> dict[str, Any]:
    home = work / f"budget-{budget}"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "flywheel.py").symlink_to(ROOT / "dags" / "flywheel.py")
    cfg_path, pools, emu = home / "flywheel.yaml", home / "pools.json", home / "emulator.yaml"
    cfg_path.write_text(yaml.safe_dump(config(logs, workloads, budget, demo)))
    cli("pools", "--config", str(cfg_path), "--write", str(pools))
    emu.write_text(
        yaml.safe_dump(
            {
                "gpus": budget,
                "tick_s": 0.05,
                "customization_uses_gpus": False,
                **durations(platform_s, demo),
            }
        )
    )
    stack = LocalStack(
        workdir=home / "stack",
        config_path=cfg_path,
        dags_folder=home / "dags",
        pools_file=pools,
        emulator_args=["--config", str(emu)],
        parallelism=8,
    )
    stack.start()
    try:
        api = stack.api
        assert api is not None
        for wid in workloads:
            api.wait_for_dag(f"flywheel_{wid}")
        stack.reset_max()
        load = os.getloadavg()[0]
        started = time.monotonic()
        runs = {f"flywheel_{wid}": f"budget-{budget}-{wid}" for wid in workloads}
        for dag_id, rid in runs.items():
            api.trigger(dag_id, {}, rid).raise_for_status()
        states = {dag_id: api.wait_run(dag_id, rid, timeout=3600) for dag_id, rid in runs.items()}
        wall = time.monotonic() - started
        if any(s != "success" for s in states.values()):
            raise SystemExit(f"budget {budget}: runs not successful: {states}")
        stats = stack.stats()
        return {
            "budget": budget,
            "wall_s": round(wall, 1),
            "max_gpus_in_use": stats["max_gpus_in_use"],
            "live_at_end": stats["live_flywheel_deployments"],
            "load_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        stack.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="1,2,4")
    ap.add_argument("--workloads", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="budgets 1,2 and two workloads (make bench)")
    ap.add_argument("--platform-s", type=float, default=0.0, help="emulator job and deployment durations (s)")
    ap.add_argument("--demo-durations", action="store_true", help="the emulator's default durations, as make demo")
    args = ap.parse_args()
    budgets = [1, 2] if args.quick else [int(b) for b in args.budgets.split(",")]
    workloads = [f"bench_{i}" for i in range(2 if args.quick else args.workloads)]
    work = Path(tempfile.mkdtemp(prefix="flywheel-gpu-budget-"))
    logs = work / "logs.jsonl"
    write_logs(logs, workloads)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(
        f"{len(workloads)} workloads x {len(NIMS)} NIMs, emulator durations "
        f"{'of make demo' if args.demo_durations else f'{args.platform_s:g}s'}; "
        f"commit {commit.stdout.strip()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {os.getloadavg()}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for budget in budgets:
        row = run_budget(budget, workloads, work, logs, args.platform_s, args.demo_durations)
        row["speed_up"] = round(rows[0]["wall_s"] / row["wall_s"], 2) if rows else 1.0
        rows.append(row)
        print(
            f"budget {budget}: wall {row['wall_s']:.1f}s ({row['wall_s'] / rows[0]['wall_s']:.2f}x budget 1's), "
            f"speed-up {row['speed_up']:.2f}x, GPUs in use at most {row['max_gpus_in_use']}, "
            f"live at the end {row['live_at_end']}, load {row['load_1m'][0]} -> {row['load_1m'][1]}",
            flush=True,
        )
        if row["max_gpus_in_use"] > budget or row["live_at_end"]:
            raise SystemExit(f"budget {budget} broken: {row}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
