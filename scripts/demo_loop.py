"""The loop part of `make demo` (docs/loop.md): the wheel turns once more by itself.

Before the runs: each workload gets a ``trigger`` (small limits) and the config a ``serving`` section (the
LiteLLM proxy started here, its routing file and serving log under ``.demo/``); the emulator serves the
incumbent (the production model) and the candidate NIMs in a namespace of their own; the gateway starts
and each workload's first route sends everything to the incumbent; a few warm-up requests per workload
(fewer than ``min_new_records``) give the rollout's shadow step live answers to compare with.
After the approval: the ``flywheel_rollout`` run the promotion started is followed step by step while the
demo drives the traffic it needs; once the route is at 100 %, a burst through the gateway lands in the log
source and the log watcher starts the workload's next run by itself. Traffic flows only in those bursts:
an idle demo starts no run. At the end, the loop's timeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel.localstack.gateway import Gateway, gateway_installed
from flywheel.sampledata.traffic import requests_of, send
from flywheel.serving.adapters.gateway import GatewayTarget
from flywheel.serving.routing import Route, read_routing

INCUMBENT = "meta/llama-3.1-8b-instruct"  # the demo's production model: served by the emulator, not a judge
TRIGGER = {"min_new_records": 20, "max_label_drift": None, "min_interval": 60, "poll_s": 5}
WARM_UP = 10  # requests per workload before any rollout: below min_new_records
BURST = 30  # the burst after the rollout: above min_new_records
RATE = 4.0  # requests per second while a rollout step waits for traffic
ROLLOUT_DAG = "flywheel_rollout"
NEXT_RUN_TIMEOUT = 300
STEP_TASKS = ("plan", "shadow", "gate", "approve_full", "full")


def _at(text: str | None) -> str:
    if not text:
        return "?"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%H:%M:%S")
    except ValueError:
        return text


class Loop:
    def __init__(self, demo: Path, log_file: Path, workloads: list[str], say: Callable[[str], None]) -> None:
        self.demo, self.log_file, self.workloads, self.say = demo, log_file, workloads, say
        self.serving_dir = demo / "serving"
        self.routing_file = self.serving_dir / "routing.json"
        self.gateway: Gateway | None = None
        self.timeline: list[tuple[str, str]] = []  # (HH:MM:SS UTC, what)

    # ------------------------------------------------------------------------------ before the stack
    @staticmethod
    def available() -> bool:
        return gateway_installed()

    def configure(self, cfg: dict[str, Any], emulator_url: str) -> None:
        """Trigger limits per workload and the serving section (the gateway's port is chosen now)."""
        self.gateway = Gateway(
            workdir=self.demo / "gateway",
            upstream_url=emulator_url,
            routing_file=self.routing_file,
            log_file=self.log_file,
            serving_log_dir=self.serving_dir,
        )
        for w in cfg["workloads"]:
            w["trigger"] = dict(TRIGGER)
        cfg["defaults"].setdefault("production", {})["model_name"] = INCUMBENT
        cfg["serving"] = {
            "target": "gateway",
            "gateway_url": self.gateway.url,
            "routing_file": str(self.routing_file),
            "serving_log_dir": str(self.serving_dir),
            "canary_weights": [25, 100],
            "shadow_requests": 8,
            "step_requests": 5,
            "step_timeout": 600,
            # the emulator's candidates agree with the incumbent about as often as they meet the demo's bar
            "min_agreement": 0.5,
            "gate": "off",  # the demo answers the promotion; the rollout's own gate is skipped
        }

    def served_models(self, cfg: dict[str, Any]) -> list[str]:
        return [INCUMBENT, *(n["model_name"] for n in cfg.get("nims", []))]

    # ------------------------------------------------------------------------------- after the stack
    def start(self, stack: Any, cfg: dict[str, Any]) -> dict[str, object]:
        """Serve the models, start the gateway, write each workload's first route, warm up; the state's keys."""
        assert self.gateway is not None
        models = self.served_models(cfg)  # hosted by the emulator (settings hosted_models), outside its GPUs
        self.say(f"the emulator serves {', '.join(models)} (hosted, as production serves them)")
        self.say(f"starting the gateway (LiteLLM proxy + flywheel hook) on {self.gateway.url}")
        self.gateway.start()
        target = GatewayTarget(str(self.routing_file))
        for wid in self.workloads:
            target.apply(Route(workload_id=wid, incumbent=INCUMBENT))
        self.say(f"routes: flywheel/<workload> -> {INCUMBENT} (the incumbent) for {', '.join(self.workloads)}")
        deadline = time.monotonic() + 300
        while not set(models) <= {m["id"] for m in stack.emulator("GET", "/v1/models")["data"]}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not serve {models} within 300s")
            time.sleep(2)
        for wid in self.workloads:
            seen = self.burst(wid, WARM_UP)
            self.say(f"warm-up: {WARM_UP} requests of {wid} through the gateway {seen}")
        return {
            "log_sources": {wid: str(self.log_file) for wid in self.workloads},
            "gateway_url": self.gateway.url,
            "gateway_pid": self.gateway.process.pid if self.gateway.process else None,
        }

    def pid(self) -> int | None:
        return self.gateway.process.pid if self.gateway and self.gateway.process else None

    def burst(self, wid: str, count: int, rate: float = 0) -> dict[str, int]:
        assert self.gateway is not None
        return send(self.gateway.url, wid, self._requests(wid), count=count, rate=rate)

    def _requests(self, wid: str) -> list[dict[str, object]]:
        return requests_of(self.demo / "logs" / f"{wid}.jsonl", wid)

    # ------------------------------------------------------------------------------ the second turn
    def turn(self, api: Any, dag_id: str, rid: str, follow: Callable[[dict[str, str]], dict[str, str]]) -> bool:
        """From the approved promotion of ``dag_id`` run ``rid``: the rollout, a burst, the next run."""
        wid = dag_id.removeprefix("flywheel_")
        self._note_run(api, dag_id, rid, "first run (manual)")
        decision = _xcom(api, dag_id, rid, "approve_promotion", "decision") or {}
        self.timeline.append((_at(decision.get("at")), f"approval: {decision.get('status')} {decision.get('nim')}"))
        rollout = self._rollout_run(api, wid)
        if rollout is None:
            self.say("no flywheel_rollout run started for the promotion")
            return False
        ok = self._follow_rollout(api, wid, rollout)
        route = read_routing(self.routing_file).routes.get(wid)
        if route is not None:
            self.say(
                f"gateway route of {wid}: step {route.step}, {route.candidate_weight} % to {route.candidate},"
                f" serving {route.primary}"
            )
        if not ok:
            return False
        known = {r["dag_run_id"] for r in _runs(api, dag_id)}
        seen = self.burst(wid, BURST)
        self.timeline.append((time.strftime("%H:%M:%S", time.gmtime()), f"burst: {BURST} requests of {wid} {seen}"))
        self.say(f"burst: {BURST} requests of {wid} through the gateway {seen}; waiting for the log watcher")
        nxt = self._next_run(api, dag_id, known)
        if nxt is None:
            self.say(f"no run of {dag_id} started from the logs within {NEXT_RUN_TIMEOUT}s")
            return False
        self.say(f"the log watcher started {dag_id} run {nxt}: following it")
        states = follow({dag_id: nxt})
        report = _xcom(api, dag_id, nxt, "report") or {}
        why = report.get("trigger_reason")
        self.say(f"{dag_id} run {nxt}: {states.get(dag_id)}; report trigger_reason: {why}")
        self._note_run(api, dag_id, nxt, "data-triggered run")
        return states.get(dag_id) in ("success", "awaiting approval", "failed") and bool(why)

    def _rollout_run(self, api: Any, wid: str) -> str | None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            for r in reversed(_runs(api, ROLLOUT_DAG)):
                plan = _xcom(api, ROLLOUT_DAG, r["dag_run_id"], "plan")
                if isinstance(plan, dict) and plan.get("workload_id") == wid:
                    return str(r["dag_run_id"])
                if plan is None and r["state"] in ("queued", "running"):
                    break  # its plan is not written yet
            time.sleep(3)
        return None

    def _follow_rollout(self, api: Any, wid: str, rid: str) -> bool:
        """Drive traffic while the rollout runs (its steps wait for live answers); print each step."""
        stop = threading.Event()
        traffic = threading.Thread(target=self._traffic, args=(wid, stop), daemon=True)
        traffic.start()
        shown: set[str] = set()
        state = "running"
        try:
            while True:
                state = str(api.run(ROLLOUT_DAG, rid)["state"])
                for task_id, ts in sorted(api.task_states(ROLLOUT_DAG, rid).items()):
                    name = task_id.removesuffix("[-1]")
                    if ts in ("success", "failed", "skipped") and name not in shown:
                        shown.add(name)
                        self._show_step(api, rid, name, str(ts))
                if state in ("success", "failed"):
                    break
                time.sleep(3)
        finally:
            stop.set()
            traffic.join(timeout=90)
        self.say(f"rollout {ROLLOUT_DAG}/{rid}: {state}")
        return state == "success"

    def _traffic(self, wid: str, stop: threading.Event) -> None:
        while not stop.is_set():
            self.burst(wid, 4, RATE)

    def _show_step(self, api: Any, rid: str, task_id: str, state: str) -> None:
        if task_id == "gate":
            return
        step = _xcom(api, ROLLOUT_DAG, rid, task_id) if state == "success" else None
        back = _xcom(api, ROLLOUT_DAG, rid, task_id, "rollback") if state == "failed" else None
        if isinstance(step, dict) and "step" in step:
            figures = {k: step.get(k) for k in ("weight", "requests", "errors", "agreement", "compared", "p95_ms")}
            line = f"rollout step {task_id}: " + ", ".join(f"{k}={v}" for k, v in figures.items() if v is not None)
            self.timeline.append((_at(step.get("at")), line))
        elif isinstance(step, dict) and task_id == "plan":
            line = f"rollout plan: {step.get('incumbent')} -> {step.get('candidate')}"
            self.timeline.append((time.strftime("%H:%M:%S", time.gmtime()), line))
        elif isinstance(back, dict):
            line = f"rollback after {back.get('after')}: {back.get('reason')}"
            self.timeline.append((_at(back.get("at")), line))
        else:
            line = f"rollout step {task_id}: {state}"
        self.say(line)

    def _next_run(self, api: Any, dag_id: str, known: set[str]) -> str | None:
        deadline = time.monotonic() + NEXT_RUN_TIMEOUT
        while time.monotonic() < deadline:
            for r in _runs(api, dag_id):
                if r["dag_run_id"] not in known and r.get("run_type") == "asset_triggered":
                    return str(r["dag_run_id"])
            time.sleep(3)
        return None

    def _note_run(self, api: Any, dag_id: str, rid: str, what: str) -> None:
        run = api.run(dag_id, rid)
        self.timeline.append((_at(run.get("start_date") or run.get("queued_at")), f"{what}: {dag_id} {rid} starts"))

    def log_events(self, api: Any) -> None:
        """The log watcher's events (what started data-triggered runs) into the timeline."""
        for wid in self.workloads:
            found = api.http.get("/assets", params={"uri_pattern": f"flywheel://logs/{wid}"}).json()
            for asset in found.get("assets", []):
                for e in api.asset_events(asset_id=asset["id"]):
                    p = (e.get("extra") or {}).get("payload") or {}
                    line = f"log event {e['uri']}: {p.get('reason')}, {p.get('records_since')} new records"
                    self.timeline.append((_at(e.get("timestamp")), line))

    def print_timeline(self, api: Any) -> None:
        self.log_events(api)
        print("\nthe loop's timeline (UTC)")
        for at, what in sorted(self.timeline):
            print(f"  {at}  {what}")
        print()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()


def _runs(api: Any, dag_id: str) -> list[dict[str, Any]]:
    r = api.http.get(f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after"})
    return list(r.json().get("dag_runs", [])) if r.status_code == 200 else []


def _xcom(api: Any, dag_id: str, rid: str, task_id: str, key: str = "return_value") -> Any:
    r = api.http.get(
        f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/xcomEntries/{key}", params={"map_index": -1}
    )
    return r.json().get("value") if r.status_code == 200 else None
