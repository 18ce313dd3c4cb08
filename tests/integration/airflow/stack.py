"""A private flywheel stack for integration tests: the NeMo emulator plus a real Airflow
(api-server, scheduler, dag-processor, triggerer; LocalExecutor; SQLite) on free loopback ports.

Everything runs under one temporary folder and is stopped by pid when the stack closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.processes import ManagedProcess, free_port, http_ok

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "flywheel-test"


def airflow_env(home: Path, api_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "flywheel-test-jwt-secret-0123456789abcdef",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "2",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_PROXY": "*",
        "no_proxy": "*",
    }
    env.update(extra or {})
    return env


@dataclass
class FlywheelStack:
    """Emulator + Airflow. Start with :meth:`start`, always :meth:`stop` (fixtures do)."""

    workdir: Path
    config: dict[str, Any]
    emulator_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.workdir / "airflow"
        self.logs = self.workdir / "logs"
        self.api_port, self.emulator_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.config_path = self.workdir / "flywheel.yaml"

    # ------------------------------------------------------------------ lifecycle
    def env(self) -> dict[str, str]:
        nemo = {"conn_type": "http", "host": self.emulator_url,
                "extra": {"nim_url": self.emulator_url, "datastore_url": self.emulator_url}}
        judge = {"conn_type": "http", "host": f"{self.emulator_url}/v1/chat/completions", "password": "judge-key"}
        return airflow_env(self.home, self.api_port, {
            "FLYWHEEL_CONFIG": str(self.config_path),
            "FLYWHEEL_ARTIFACTS": str(self.workdir / "artifacts"),
            "AIRFLOW_CONN_FLYWHEEL_NEMO": json.dumps(nemo),
            "AIRFLOW_CONN_FLYWHEEL_JUDGE": json.dumps(judge),
            "HF_HUB_DISABLE_XET": "1",
            **self.extra_env,
        })

    def start(self) -> FlywheelStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        (self.home / "passwords.json").write_text(json.dumps({"admin": ADMIN_PASSWORD}))
        env = self.env()
        self._run(["flywheel", "check-config", str(self.config_path)], env)
        emulator = ManagedProcess(
            "emulator", ["flywheel", "emulator", "--port", str(self.emulator_port), *self.emulator_args],
            self.logs, env=env, ready=http_ok(f"{self.emulator_url}/emulator/stats"), ready_timeout=30,
        )
        self._start(emulator)
        self._run(["airflow", "db", "migrate"], env)
        self._run(["airflow", "pools", "import", str(ROOT / "config" / "pools.json")], env)
        for name in ("scheduler", "dag-processor", "triggerer"):
            self._start(ManagedProcess(name, ["airflow", name], self.logs, env=env))
        self._start(ManagedProcess("api-server", ["airflow", "api-server", "--port", str(self.api_port)],
                                   self.logs, env=env, ready=http_ok(f"{self.api_url}/api/v2/monitor/health"),
                                   ready_timeout=90))
        self.api = AirflowApi(self.api_url, "admin", ADMIN_PASSWORD)
        return self

    def _start(self, p: ManagedProcess) -> None:
        self.processes.append(p)
        p.start()

    def _run(self, cmd: list[str], env: dict[str, str]) -> None:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.proc is not None]

    # ------------------------------------------------------------------ emulator
    def emulator(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.emulator_url}{path}", timeout=30, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def stats(self) -> dict[str, Any]:
        return self.emulator("GET", "/emulator/stats")

    def logs_of(self, name: str) -> str:
        return next(p.tail(200) for p in self.processes if p.name == name)


class AirflowApi:
    """Airflow REST API v2 with a JWT from /auth/token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        token = httpx.post(f"{base_url}/auth/token", json={"username": username, "password": password},
                           timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(base_url=f"{base_url}/api/v2", timeout=30,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.http.get(f"/dags/{dag_id}")
            if r.status_code == 200:
                return r.json()
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed within {timeout}s")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.http.post(f"/dags/{dag_id}/dagRuns", json=body)

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        r.raise_for_status()
        return r.json()

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id}/{run_id} still running after {timeout}s: {self.task_states(dag_id, run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500})
        r.raise_for_status()
        return r.json()["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
                          params={"map_index": map_index})
        r.raise_for_status()
        return r.json()["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                          params={"map_index": map_index})
        r.raise_for_status()
        content = r.json().get("content") or []
        return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in content)

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> httpx.Response:
        return self.http.patch(f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})
