"""A private Airflow on loopback: environment for its components and a REST API v2 client."""

from __future__ import annotations

import base64
import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from flywheel.jsontypes import JsonObject
from flywheel.localstack.processes import free_port

VENV_BIN = Path(sys.executable).parent


def airflow_env(
    home: Path, api_port: int, dags_folder: Path, extra: dict[str, str] | None = None, parallelism: int = 8
) -> dict[str, str]:
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # one set of keys for every process of the stack: left unset, each process that starts before
        # airflow.cfg exists generates its own, and a Variable or connection one process encrypts cannot be
        # read by another ("Can't decrypt _val"), nor a token one signs be checked by another
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
        # a killed scheduler's or worker's tasks are retried after 60 s instead of Airflow's 300 s; tasks
        # heartbeat every few seconds, and waits are deferred (the triggerer does not need task heartbeats)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        # The task supervisor reports a deferring execution's exit up to this late (NemoOperator.defer_floor_s).
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "2",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_PROXY": "*",
        "no_proxy": "*",
    }
    plugins = dags_folder.parent / "plugins"  # the checkout's plugins/ (extra links, the conf check)
    if plugins.is_dir():
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
    env.update(extra or {})
    return env


class AirflowApi:
    """Airflow REST API v2 with a JWT from /auth/token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        token = httpx.post(f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v2",
            timeout=30,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )

    def import_pools(self, pools: Mapping[str, Mapping[str, object]]) -> None:
        """Create or overwrite pools given as ``airflow pools import``'s file does (name -> slots, ...)."""
        for name, spec in pools.items():
            body = {"name": name, **spec}
            r = self.http.patch(f"/pools/{quote(name, safe='')}", json=body)
            if r.status_code == 404:
                r = self.http.post("/pools", json=body)
            r.raise_for_status()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> JsonObject:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.http.get(f"/dags/{dag_id}")
            if r.status_code == 200:
                dag: JsonObject = r.json()
                return dag
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed within {timeout}s")

    def trigger(
        self, dag_id: str, conf: Mapping[str, object] | None = None, run_id: str | None = None
    ) -> httpx.Response:
        body: dict[str, object] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return self.http.post(f"/dags/{dag_id}/dagRuns", json=body)

    def run(self, dag_id: str, run_id: str) -> JsonObject:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        r.raise_for_status()
        run: JsonObject = r.json()
        return run

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run(dag_id, run_id)["state"]
            if isinstance(state, str) and state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id}/{run_id} still running after {timeout}s: {self.task_states(dag_id, run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[JsonObject]:
        r = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500})
        r.raise_for_status()
        instances: list[JsonObject] = r.json()["task_instances"]
        return instances

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id[map_index]`` → state (None while a task instance has none yet)."""
        return {
            f"{t['task_id']}[{t['map_index']}]": state if isinstance(state := t["state"], str) else None
            for t in self.task_instances(dag_id, run_id)
        }

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        r = self.http.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index},
        )
        r.raise_for_status()
        return r.json()["value"]

    def asset_events(self, timeout: float = 120, **params: str | int) -> list[JsonObject]:
        """``GET /assets/events``. Airflow 3.3 answers 500 while an event's newly created run has no start date
        yet (its answer model requires one), so a 5xx is asked again until ``timeout``: once that run starts,
        the answer is whole."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get("/assets/events", params=params)
            if r.status_code < 500 or time.monotonic() > deadline:
                r.raise_for_status()
                events: list[JsonObject] = r.json()["asset_events"]
                return events
            time.sleep(1)

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        r = self.http.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index},
        )
        r.raise_for_status()
        content = r.json().get("content") or []
        return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in content)

    def set_run_state(self, dag_id: str, run_id: str, state: str, attempts: int = 4) -> httpx.Response:
        """PATCH the run's state; idempotent, so 5xx (e.g. SQLite "database is locked") is retried."""
        for attempt in range(attempts):
            r = self.http.patch(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", json={"state": state})
            if r.status_code < 500 or attempt == attempts - 1:
                return r
            time.sleep(1 + attempt)
        return r
