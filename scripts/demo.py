"""`make demo` / `make demo-stop`: the embedded default, from a fresh clone to a results table.

up:   generate sample logs (customer-service agent + financial-news classifier), start the NeMo emulator
      and Airflow (api-server, scheduler, dag-processor, triggerer; SQLite; LocalExecutor) on loopback,
      trigger both workload DAGs over the REST API (one run id each), show progress, approve the first
      recommendation through the REST API exactly as the UI's button does as soon as it is asked and show
      the promotion's Asset event, print the results table and each workload's recommendation; the other
      approval is left for you in the UI. It follows the runs while they progress (no fixed time limit:
      it gives up only when nothing moved for STALL_S) and never ends in a traceback: on failure it names
      the failed task and its log line that says why, and exits 1.
      Writes .demo/state.json (platform, airflow_url, username, password, emulator_url, pids; on Helix
      helix_url; with the gateway installed, log_sources, gateway_url, gateway_pid).
      The loop (scripts/demo_loop.py, docs/loop.md): with `make gateway` done, the approved promotion is
      rolled out through the LiteLLM proxy, a traffic burst lands in the log source and the log watcher starts
      the workload's next run by itself; the loop's timeline is printed at the end.
      FLYWHEEL_PLATFORM=helix: the same runs on the real NeMo Helix services (``make helix``), with the
      emulator standing in only for the GPU cluster (v2 deployments, the NIM a Helix provider serves).
down: stop exactly the processes listed in .demo/state.json (Helix with its job subprocesses).
Ports: AIRFLOW_PORT (default 8080), EMULATOR_PORT (default 8100), HELIX_PORT (default 8200).
FLYWHEEL_GPUS=N (default 1): the GPU budget (platform.gpu_budget), the pool flywheel_gpu and the emulator's GPUs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
STATE = DEMO / "state.json"
# workload id -> the sample generator's workload (support_answers: generic, scored by the LLM judge)
WORKLOADS = {"customer_service": "tool_calling", "news_classifier": "classification", "support_answers": "support"}
PRIMARY = {"tool_calling": "function_name_and_args_accuracy", "classification": "f1", "generic": "similarity"}
RECORDS = 500
# The demo follows the runs while they progress: it stops only when no task changed state for this long.
STALL_S = 900
POLL_S = 3
WAITING = "awaiting approval"
FINISHED = ("success", "failed", "skipped", "upstream_failed")
# The emulator's quality is not real model quality (1B base ≈ 0.45 of production agreement, customized 1B
# ≈ 0.7): the demo sets the bar where its candidates can meet it.
DEMO_MIN_QUALITY = 0.6
APPROVAL = "approve_promotion"
PLATFORMS = ("nmp", "helix")
HELIX_CMD = "nemo services run"


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------ down
def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ours(pid: int) -> bool:
    words = ("airflow", "flywheel", "postgres", "redis", "litellm", HELIX_CMD)
    return any(word in _cmdline(pid) for word in words)


def down() -> int:
    from flywheel.localstack.helix import descendants

    if not STATE.exists():
        say("nothing to stop (no .demo/state.json)")
        return 0
    pids = json.loads(STATE.read_text()).get("pids", {})
    for name, pid in pids.items():
        if HELIX_CMD in _cmdline(pid):
            # Helix runs each evaluation job in a session of its own: stop those first, by pid
            for job in descendants(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(job, signal.SIGTERM)
        if _ours(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            say(f"stopping {name} (pid {pid})")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_ours(p) for p in pids.values()):
        time.sleep(0.5)
    for pid in pids.values():
        if _ours(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    STATE.unlink()
    say("stopped")
    return 0


# -------------------------------------------------------------------------------------------------- up
def demo_config(logs: Path, platform: str = "nmp", gpus: int = 1) -> dict[str, Any]:
    cfg = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    if platform == "helix":
        cfg.setdefault("platform", {})["kind"] = "helix"
    cfg["log_source"] = {"kind": "file", "path": str(logs)}
    cfg.setdefault("platform", {}).update(poll_initial_s=1.0, poll_max_s=4.0, lease_poll_s=3.0, gpu_budget=gpus)
    cfg["airflow"] = {"retries": 1, "retry_delay_s": 5}
    cfg.setdefault("defaults", {})["schedule"] = None  # the demo triggers runs itself
    cfg["defaults"].setdefault("selection", {})["min_quality"] = DEMO_MIN_QUALITY
    for w in cfg["workloads"]:
        w.pop("schedule", None)
    return cfg


def make_logs(target: Path) -> None:
    parts = []
    for workload, kind in WORKLOADS.items():
        part = DEMO / "logs" / f"{workload}.jsonl"
        part.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "flywheel.cli",
                "sample-data",
                "--workload",
                kind,
                "--records",
                str(RECORDS),
                "--seed",
                "42",
                "--out",
                str(part),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        parts.append(part)
    with target.open("w") as out:
        for part in parts:
            out.write(part.read_text())
    say(f"sample logs: {RECORDS} records per workload -> {target.relative_to(ROOT)}")


def demo_gpus() -> int | None:
    """``FLYWHEEL_GPUS`` (default 1), or None when it is not a whole number ≥ 1."""
    text = os.environ.get("FLYWHEEL_GPUS", "1").strip()
    return int(text) if text.isdigit() and int(text) >= 1 else None


def gpu_setup(config_path: Path, gpus: int) -> tuple[Path, list[str]]:
    """The pools file for the config's budget (``flywheel pools --write``) and the emulator's arguments: as
    many GPUs as the budget. A customization job runs on its deployment's GPUs, as the lease counts it
    (docs/contracts.md#the-gpu-lease), so the emulator's jobs claim none of their own."""
    pools = DEMO / "pools.json"
    cmd = [sys.executable, "-m", "flywheel.cli", "pools", "--config", str(config_path), "--write", str(pools)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return pools, ["--config", str(write_emulator_settings()), "--gpus", str(gpus)]


def write_emulator_settings(hosted: list[str] | None = None) -> Path:
    """The emulator's settings: jobs claim no GPUs of their own; ``hosted`` models (the loop's incumbent and
    serving copies) answer outside the GPU pool, as production does on its own cluster, so the emulator's GPUs
    are the runs' budget alone."""
    settings: dict[str, Any] = {"customization_uses_gpus": False, "hosted_models": hosted or []}
    path = DEMO / "emulator.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def fresh_state() -> None:
    """Every demo starts from nothing: Airflow's database of an earlier demo holds triggers encrypted with that
    demo's Fernet key (a new triggerer dies on them) and runs that would hold this demo's ones back; the routes
    and the serving logs belong to that demo's rollouts."""
    for part in ("run", "serving", "gateway", "helix"):
        shutil.rmtree(DEMO / part, ignore_errors=True)
    DEMO.mkdir(exist_ok=True)


def helix_connection(helix_url: str, emulator_url: str, workspace: str) -> str:
    """``flywheel_nemo`` on Helix: the services, and the emulator as the GPU cluster and the NIM."""
    extra = {"namespace": workspace, "gpu_url": emulator_url, "provider_url": emulator_url}
    return json.dumps({"conn_type": "http", "host": helix_url, "extra": extra})


def up() -> int:
    from flywheel.localstack.stack import LocalStack

    platform = os.environ.get("FLYWHEEL_PLATFORM", "nmp")
    if platform not in PLATFORMS:
        say(f"FLYWHEEL_PLATFORM must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        return 2
    gpus = demo_gpus()
    if gpus is None:
        say(f"FLYWHEEL_GPUS must be a whole number of GPUs (1 or more), got {os.environ['FLYWHEEL_GPUS']!r}")
        return 2
    if STATE.exists():
        say("a previous demo is running: stopping it first")
        down()
    fresh_state()
    logs = DEMO / "logs" / "all.jsonl"
    make_logs(logs)
    config_path = DEMO / "flywheel.yaml"
    cfg = demo_config(logs, platform, gpus)
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    pools_file, emulator_args = gpu_setup(config_path, gpus)
    say(f"GPU budget {gpus}: pool flywheel_gpu with {gpus} slot(s), the emulator with {gpus} GPU(s) for the runs")
    stack = LocalStack(
        workdir=DEMO / "run",
        config_path=config_path,
        dags_folder=ROOT / "dags",
        pools_file=pools_file,
        emulator_args=emulator_args,
        plugins_folder=ROOT / "plugins",
        parallelism=4,
        connections_in_metastore=True,  # editable in the UI and through REST, as a user's connections are
        api_port=int(os.environ.get("AIRFLOW_PORT", "8080")),
        emulator_port=int(os.environ.get("EMULATOR_PORT", "8100")),
    )
    loop = loop_setup(cfg, config_path, logs, stack)
    if loop is not None:
        write_emulator_settings(hosted=loop.served_models(cfg))
    helix = None
    if platform == "helix":
        from flywheel.localstack.helix import HelixServices, redacted_kinds, teach_stand_in

        helix = HelixServices(DEMO / "helix", port=int(os.environ.get("HELIX_PORT", "8200")))
        say(f"starting NeMo Helix ({helix.url}; Python 3.13 venv from `make helix`)")
        helix.start()
        STATE.write_text(json.dumps({"platform": platform, "helix_url": helix.url, "pids": {"helix": helix.pid}}))
        say(f"Helix ready in {helix.ready_s:.0f}s, {helix.rss_mb():.0f} MB resident")
        workspace = cfg["platform"].get("namespace", "dfwbp")
        stack.extra_env["AIRFLOW_CONN_FLYWHEEL_NEMO"] = helix_connection(helix.url, stack.emulator_url, workspace)
    say(f"starting the NeMo emulator ({stack.emulator_url}) and Airflow ({stack.api_url})")
    try:
        stack.start()
    except BaseException:
        if helix is not None:
            helix.stop()
            STATE.unlink(missing_ok=True)
        raise
    if helix is not None:
        teach_stand_in(stack.emulator_url, logs, pii_kinds=redacted_kinds(cfg))
    state = {
        "platform": platform,
        **({"helix_url": helix.url} if helix is not None else {}),
        "airflow_url": stack.api_url,
        "username": "admin",
        "password": stack.admin_password,
        "emulator_url": stack.emulator_url,
        "flywheel_page_url": f"{stack.api_url}/flywheel/",
        "pids": {**stack.pids(), **({"helix": helix.pid} if helix is not None else {})},
    }
    STATE.write_text(json.dumps(state, indent=2))
    if loop is not None:
        loop_start(loop, stack, cfg, state)
    api = stack.api
    assert api is not None
    runs = {}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for workload in WORKLOADS:
        dag_id = f"flywheel_{workload}"
        api.wait_for_dag(dag_id, timeout=180)
        rid = f"demo-{workload}-{stamp}"
        r = api.trigger(dag_id, {}, rid)
        if r.status_code != 200:
            say(f"trigger of {dag_id} failed: {r.status_code} {r.text}")
            return 1
        runs[dag_id] = rid
        say(f"triggered {dag_id} run {rid} (POST /api/v2/dags/{dag_id}/dagRuns)")
    progress = Progress(api, runs)
    states = progress.wait(approve=True)
    print_results(api, runs, states)
    say(f"Airflow UI: {stack.api_url}  login: admin / {stack.admin_password}   (stop with: make demo-stop)")
    for dag_id, rid in runs.items():
        if states.get(dag_id) == WAITING:
            say(f"waiting for you: {stack.api_url}/dags/{dag_id}/runs/{rid}/tasks/{APPROVAL}/required_actions")
    ok = all(s in ("success", WAITING) for s in states.values()) and progress.approved is not None
    if ok and loop is not None:
        ok = loop_turn(loop, api, progress, runs)
    say(f"Flywheel page: {stack.api_url}/flywheel/  (in the UI: Flywheel in the navigation)")
    if not ok:
        explain_failures(api, runs, states, stack)
        if progress.approved is None:
            say("no approval was applied")
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------ the loop
def loop_setup(cfg: dict[str, Any], config_path: Path, logs: Path, stack: Any) -> Any:
    """The loop's config (triggers, serving through the gateway) and emulator GPUs; None without the gateway."""
    from demo_loop import Loop

    if not Loop.available():
        say("the LiteLLM proxy is not installed (`make gateway`): no rollout, the runs only")
        return None
    loop = Loop(DEMO, logs, list(WORKLOADS), say)
    loop.configure(cfg, stack.emulator_url)
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return loop


def loop_start(loop: Any, stack: Any, cfg: dict[str, Any], state: dict[str, Any]) -> None:
    """The gateway and the first routes; their keys into .demo/state.json (make demo-stop stops it by pid)."""
    started = loop.start(stack, cfg)
    state.update(started)
    if loop.pid() is not None:
        state["pids"]["gateway"] = loop.pid()
    STATE.write_text(json.dumps(state, indent=2))


def loop_turn(loop: Any, api: Any, progress: Progress, runs: dict[str, str]) -> bool:
    """The approved promotion through the rollout to the gateway, a burst, the data-triggered run; the timeline."""
    dag_id = progress.approved
    assert dag_id is not None
    try:
        ok = loop.turn(api, dag_id, runs[dag_id], lambda more: Progress(api, more).wait(approve=False))
    finally:
        loop.print_timeline(api)
    return bool(ok)


def _hitl(dag_id: str, rid: str) -> str:
    return f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{APPROVAL}/-1/hitlDetails"


class Progress:
    """Follows the runs until each has finished or waits for a person; gives up only when nothing has moved
    for ``STALL_S`` (a busy machine is slow, not stuck). With ``approve``, answers the first approval as soon
    as it is asked, exactly as the UI's "Approve" button does, and shows the decision and the event."""

    def __init__(self, api: Any, runs: dict[str, str]) -> None:
        self.api, self.runs = api, runs
        self.approved: str | None = None
        self.states: dict[str, str] = {}

    def _look(self) -> tuple[str, tuple[Any, ...]]:
        parts, seen = [], []
        for dag_id, rid in self.runs.items():
            state = self.api.run(dag_id, rid)["state"]
            tis = self.api.task_instances(dag_id, rid)
            by_task = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis}
            done = sum(1 for t in tis if t["state"] in FINISHED)
            active = sorted({t["task_id"].split(".")[-1] for t in tis if t["state"] in ("running", "deferred")})
            asking = by_task.get(f"{APPROVAL}[-1]") in ("deferred", "awaiting_input")
            if state == "running" and asking and self.api.http.get(_hitl(dag_id, rid)).status_code == 200:
                state = WAITING
            self.states[dag_id] = state
            parts.append(
                f"{dag_id.removeprefix('flywheel_')}: {state} {done}/{len(tis)} tasks"
                + (f" [{', '.join(active)}]" if active else "")
            )
            seen.append((state, tuple(sorted(by_task.items()))))
        return " | ".join(parts), tuple(seen)

    def wait(self, approve: bool) -> dict[str, str]:
        last_line, last_seen, moved = "", None, time.monotonic()
        while True:
            line, seen = self._look()
            if line != last_line:
                say(line)
                last_line = line
            if seen != last_seen:
                last_seen, moved = seen, time.monotonic()
            if approve and self.approved is None:
                for dag_id, rid in self.runs.items():
                    if self.states[dag_id] == WAITING:
                        self.approved = approve_now(self.api, dag_id, rid)
                        self.states[dag_id] = self.api.run(dag_id, rid)["state"]
                        moved = time.monotonic()
                        break
            if all(s in ("success", "failed", WAITING) for s in self.states.values()):
                return self.states
            if time.monotonic() - moved > STALL_S:
                say(f"nothing progressed for {STALL_S}s: giving up")
                return self.states
            time.sleep(POLL_S)


def approve_now(api: Any, dag_id: str, rid: str) -> str | None:
    """Answer with what the UI's "Approve" button sends, wait for the run, show the decision and the event."""
    detail = api.http.get(_hitl(dag_id, rid)).json()
    option = detail["options"][0]
    say(f"approving {dag_id}: PATCH /api/v2{_hitl(dag_id, rid)} chosen_options=[{option!r}]")
    r = api.http.patch(
        _hitl(dag_id, rid), json={"chosen_options": [option], "params_input": {"comment": "approved by make demo"}}
    )
    if r.status_code != 200:
        say(f"approval refused: {r.status_code} {r.text}")
        return None
    state = wait_finished(api, dag_id, rid)
    decision = xcom_or_none(api, dag_id, rid, APPROVAL, "decision")
    if decision is None:
        say(f"{dag_id} ended {state} without a decision")
        return None
    say(f"decision: {decision['status']} {decision['nim']} ({decision['experiment']}) by {decision['by']}")
    events = api.asset_events(source_run_id=rid)
    for e in events:
        extra = e.get("extra") or {}
        say(
            f"promotion event on {e['uri']}: model {extra.get('model_id')}, "
            f"${(extra.get('cost') or {}).get('per_1m_output_tokens_usd', 0):.4f} per 1M output tokens, "
            f"approver {extra.get('approver')}  (GET /api/v2/assets/events)"
        )
    if not events:
        say(f"no promotion event for {dag_id} run {rid} (run {state})")
        return None
    return dag_id


def wait_finished(api: Any, dag_id: str, rid: str) -> str:
    """The run's final state; gives up only when none of its tasks changed for ``STALL_S``."""
    last, moved = None, time.monotonic()
    while True:
        state = api.run(dag_id, rid)["state"]
        if state in ("success", "failed"):
            return state
        seen = (state, tuple(sorted(api.task_states(dag_id, rid).items())))
        if seen != last:
            last, moved = seen, time.monotonic()
        elif time.monotonic() - moved > STALL_S:
            return state
        time.sleep(POLL_S)


def xcom_or_none(api: Any, dag_id: str, rid: str, task_id: str, key: str = "return_value") -> Any:
    r = api.http.get(
        f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/xcomEntries/{key}", params={"map_index": -1}
    )
    return r.json().get("value") if r.status_code == 200 else None


def why(api: Any, dag_id: str, rid: str, ti: dict[str, Any]) -> str:
    """The line of the task's last log that says why it failed (its last error, else its last line)."""
    try_number = max(int(ti.get("try_number") or 1), 1)
    path = f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{ti['task_id']}/logs/{try_number}"
    r = api.http.get(path, params={"map_index": ti["map_index"]})
    if r.status_code != 200:
        return f"(no log: {r.status_code})"
    lines = [c for c in r.json().get("content") or [] if isinstance(c, dict) and c.get("event")]
    errors = [c for c in lines if str(c.get("level", "")).lower() in ("error", "critical")]
    pick = (errors or lines or [{"event": "(empty log)"}])[-1]
    detail = pick.get("error_detail")
    if isinstance(detail, list) and detail and isinstance(detail[-1], dict):  # the exception itself
        return f"{detail[-1].get('exc_type')}: {str(detail[-1].get('exc_value'))[:300]}"
    return str(pick["event"]).splitlines()[0][:300]


def explain_failures(api: Any, runs: dict[str, str], states: dict[str, str], stack: Any) -> None:
    for dag_id, rid in runs.items():
        if states.get(dag_id) in ("success", WAITING):
            continue
        say(f"{dag_id} run {rid} is {states.get(dag_id)}")
        for ti in api.task_instances(dag_id, rid):
            if ti["state"] in ("failed", "upstream_failed") or (
                states.get(dag_id) not in ("failed",) and ti["state"] in ("running", "deferred", "queued")
            ):
                label = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
                line = why(api, dag_id, rid, ti) if ti["state"] == "failed" else ""
                say(f"  task {label} {ti['state']}" + (f": {line}" if line else ""))
    say(f"emulator log tail:\n{stack.log_tail('emulator', 10)}")


def print_results(api: Any, runs: dict[str, str], states: dict[str, str]) -> None:
    print()
    header = f"{'workload':<18} {'NIM':<30} {'experiment':<11} {'status':<10} scores"
    print(header)
    print("-" * len(header))
    for dag_id, rid in runs.items():
        report = xcom_or_none(api, dag_id, rid, "report")
        if not report:
            print(f"{dag_id}: no report (run {states.get(dag_id)})")
            continue
        for r in report["results"]:
            scores = "  ".join(f"{k}={v:.3f}" for k, v in sorted(r["scores"].items())) or (r["error"] or "")
            print(f"{report['workload_id']:<18} {r['nim']:<30} {r['experiment']:<11} {r['status']:<10} {scores}")
        print_decision(report)
        print()


def _usd(value: Any) -> str:
    return "-" if value is None else f"${value:,.4f}"


def print_decision(report: dict[str, Any]) -> None:
    prod, rec = report.get("production") or {}, report.get("recommendation")
    print(f"  {'candidate':<44} {'score':>6} {'p95 ms':>7} {'$/1M out':>10}  meets bar")
    for r in report.get("comparison") or []:
        p95 = "-" if r["p95_ms"] is None else f"{r['p95_ms']:.0f}"
        print(
            f"  {r['nim'] + ' ' + r['experiment']:<44} {r['score']:>6.3f} {p95:>7} "
            f"{_usd(r['per_1m_output_tokens_usd']):>10}  {'yes' if r['meets_bar'] else 'no: ' + r['why_not']}"
        )
    if prod:
        print(f"  production {prod['model_name']}: {_usd(prod['per_1m_output_tokens_usd'])} per 1M output tokens")
    if rec:
        print(
            f"  RECOMMENDED {rec['nim']} ({rec['experiment']}): {rec['primary_metric']}={rec['score']:.3f}"
            f" ≥ {rec['min_quality']:g}, {_usd(rec['per_1m_output_tokens_usd'])} per 1M output tokens,"
            f" saves {_usd(rec['savings_per_month_usd'])} per month"
        )
    else:
        print(f"  no recommendation: {(report.get('recommendation_note') or {}).get('reason')}")
    print_trust(report)


def print_trust(report: dict[str, Any]) -> None:
    """The judge's check, the paired comparisons and the slices (docs/results.md), when the report has them."""
    judge = report.get("judge")
    if judge:
        kinds = ", ".join(f"{k} {t['passed']}/{t['probes']}" for k, t in judge["by_kind"].items())
        verdict = "trusted" if judge["trusted"] else judge["reason"]
        print(f"  judge {judge['judge']}: {judge['passed']}/{judge['probes']} probes passed ({kinds}): {verdict}")
    for p in report.get("paired") or []:
        lo, hi = p["ci"]
        print(
            f"  paired vs {p['reference']}: {p['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] on {p['rows']} rows,"
            f" {p['verdict']} at margin {p['margin']:g}"
        )
    for s in report.get("slices") or []:
        best = "-" if s["best"] is None else f"{s['best']:.3f}"
        flags = [f for f in ("below_bar", "worse_than_best", "worse_than_production") if s[f]]
        print(f"  slice {s['slice']:<28} {s['rows']:>4} rows  {s['candidate']:.3f} (best {best}) {' '.join(flags)}")


def main(action: str) -> int:
    """Never a traceback: an unexpected error is one line and a non-zero exit."""
    try:
        return up() if action == "up" else down()
    except KeyboardInterrupt:
        say("interrupted (Airflow keeps running; stop with: make demo-stop)")
        return 130
    except Exception as exc:
        say(f"demo failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if STATE.exists():
            say("Airflow and the emulator keep running for a look (stop with: make demo-stop)")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "up"))
