"""A complete local flywheel: the NeMo emulator plus a real Airflow (api-server, scheduler, dag-processor,
triggerer) on loopback ports, with connections and the ``flywheel_gpu`` pool.

Two engines: ``local`` (LocalExecutor, SQLite) and ``celery`` (CeleryExecutor with a Redis broker, a
PostgreSQL metadata database and a Celery worker — the docker-compose topology). Every process is a
:class:`ManagedProcess`; :meth:`LocalStack.stop` stops exactly those, by pid.
"""

from __future__ import annotations

import compileall
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flywheel.jsontypes import JsonObject
from flywheel.localstack.airflow import AirflowApi, airflow_env
from flywheel.localstack.processes import ManagedProcess, free_port, http_ok, port_open

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGE = Path(__file__).resolve().parents[1]


def compile_package() -> None:
    """Byte-compile the flywheel package where it is out of date. Every task process parses the DAG file and
    imports the package; from an editable install under ``PYTHONDONTWRITEBYTECODE`` (CI runners, this repo's
    machines) it would compile every module from source each time, ~0.1 s of CPU per task. An installed
    wheel (the image) is compiled at install."""
    compileall.compile_dir(PACKAGE, quiet=1)


def run_cli(cmd: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run a command of the stack; its stdout, or RuntimeError with the tail of its output."""
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{tail}")
    return out.stdout


def migrated_database(home: Path) -> Path:
    """An empty metadata database migrated by this Airflow under ``home``, for :attr:`LocalStack.database_template`."""
    home.mkdir(parents=True, exist_ok=True)
    run_cli(["airflow", "db", "migrate"], airflow_env(home, free_port(), home / "dags"))
    return home / "airflow.db"


@dataclass
class LocalStack:
    workdir: Path
    config_path: Path
    dags_folder: Path
    pools_file: Path
    plugins_folder: Path | None = None
    executor: str = "local"
    api_port: int = 0
    emulator_port: int = 0
    emulator_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 8
    # celery engine: worker processes ``celery-worker``, ``celery-worker-2``, ... (each ``--concurrency 4``)
    celery_workers: int = 1
    # the default connections (flywheel_nemo, flywheel_judge) as rows of Airflow's metadata database, editable
    # in the UI and through REST like a user's, instead of AIRFLOW_CONN_* variables, which shadow those rows
    connections_in_metastore: bool = False
    # local engine: a metadata database already migrated by this Airflow (:func:`migrated_database`), copied
    # instead of running ``airflow db migrate`` (test suites start a dozen stacks)
    database_template: Path | None = None
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    processes: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.executor not in ("local", "celery"):
            raise ValueError(f"executor must be 'local' or 'celery', not {self.executor!r}")
        self.workdir = Path(self.workdir)
        self.home = self.workdir / "airflow"
        self.logs = self.workdir / "logs"
        self.api_port = self.api_port or free_port()
        self.emulator_port = self.emulator_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self._env: dict[str, str] | None = None
        self.api: AirflowApi | None = None

    # ---------------------------------------------------------------------------------- environment
    def default_connections(self) -> dict[str, JsonObject]:
        """flywheel_nemo (the emulator) and flywheel_judge (the emulator's judge)."""
        nemo: JsonObject = {
            "conn_type": "http",
            "host": self.emulator_url,
            "extra": {"nim_url": self.emulator_url, "datastore_url": self.emulator_url},
        }
        judge: JsonObject = {"conn_type": "http", "host": f"{self.emulator_url}/v1/chat/completions"}
        return {"flywheel_nemo": nemo, "flywheel_judge": judge}

    def env(self) -> dict[str, str]:
        if self._env is None:
            defaults = {} if self.connections_in_metastore else self.default_connections()
            self._env = airflow_env(
                self.home,
                self.api_port,
                self.dags_folder,
                {
                    "FLYWHEEL_CONFIG": str(self.config_path),
                    "FLYWHEEL_ARTIFACTS": str(self.workdir / "artifacts"),
                    **{f"AIRFLOW_CONN_{k.upper()}": json.dumps(v) for k, v in defaults.items()},
                    "HF_HUB_DISABLE_XET": "1",
                    **({"AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder)} if self.plugins_folder else {}),
                    **self.extra_env,
                },
                parallelism=self.parallelism,
            )
        return self._env

    # ---------------------------------------------------------------------------------- lifecycle
    def start(self) -> LocalStack:
        self.home.mkdir(parents=True, exist_ok=True)
        compile_package()
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.admin_password}))
        env = self.env()
        try:
            self._start(
                ManagedProcess(
                    "emulator",
                    ["flywheel", "emulator", "--port", str(self.emulator_port), *self.emulator_args],
                    self.logs,
                    env=env,
                    ready=http_ok(f"{self.emulator_url}/emulator/stats"),
                    ready_timeout=30,
                )
            )
            if self.executor == "celery":
                self._start_celery_services(env)
            if self.database_template is not None and self.executor == "local":
                shutil.copyfile(self.database_template, self.home / "airflow.db")
            else:
                self.run_cli(["airflow", "db", "migrate"])
            if self.connections_in_metastore:
                conns = self.home / "connections.json"
                conns.write_text(json.dumps(self.default_connections()))
                self.run_cli(["airflow", "connections", "import", "--overwrite", str(conns)])
            for name in ("scheduler", "dag-processor", "triggerer"):
                self._start(ManagedProcess(name, ["airflow", name], self.logs, env=env))
            if self.executor == "celery":
                worker = ["airflow", "celery", "worker", "--concurrency", "4"]
                self._start(ManagedProcess("celery-worker", worker, self.logs, env=env))
                for i in range(2, self.celery_workers + 1):
                    # another Celery node (its own node name) with its own log server port
                    more = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
                    node = [*worker, "--celery-hostname", f"worker{i}@%h"]
                    self._start(ManagedProcess(f"celery-worker-{i}", node, self.logs, env={**env, **more}))
            self._start(
                ManagedProcess(
                    "api-server",
                    ["airflow", "api-server", "--port", str(self.api_port)],
                    self.logs,
                    env=env,
                    ready=http_ok(f"{self.api_url}/api/v2/monitor/health"),
                    ready_timeout=120,
                )
            )
            self.api = AirflowApi(self.api_url, "admin", self.admin_password)
            # through REST, not ``airflow pools import`` (a CLI process: seconds of imports); a task of a pool
            # that does not exist yet waits for it, the scheduler does not fail it
            self.api.import_pools(json.loads(self.pools_file.read_text()))
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, p: ManagedProcess) -> None:
        self.processes.append(p)
        p.start()

    def run_cli(self, cmd: list[str], timeout: float = 300) -> str:
        return run_cli(cmd, self.env(), timeout)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.terminate()
        for p in reversed(self.processes):
            p.stop()

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes if p.proc is not None}

    def alive(self) -> list[str]:
        return [p.name for p in self.processes if p.alive()]

    def log_tail(self, name: str, lines: int = 80) -> str:
        return next((p.tail(lines) for p in self.processes if p.name == name), "(no such process)")

    # ---------------------------------------------------------------------------------- celery engine
    def _start_celery_services(self, env: dict[str, str]) -> None:
        pg_port, redis_port = free_port(), free_port()
        pg_dir = self._postgres_dir()
        self._as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(pg_dir / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        )
        cmd = [
            str(PG_BIN / "postgres"),
            "-D",
            str(pg_dir / "data"),
            "-p",
            str(pg_port),
            "-k",
            str(pg_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=off",
        ]
        self._start(
            ManagedProcess("postgres", self._postgres_cmd(cmd), self.logs, ready=port_open(pg_port), ready_timeout=30)
        )
        for sql in ("CREATE USER airflow PASSWORD 'airflow'", "CREATE DATABASE airflow OWNER airflow"):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-c", sql],
                check=True,
                capture_output=True,
                timeout=30,
            )
        redis = shutil.which("redis-server") or "redis-server"
        self._start(
            ManagedProcess(
                "redis",
                [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                self.logs,
                ready=port_open(redis_port),
            )
        )
        db = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{pg_port}/airflow"
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow:airflow@127.0.0.1:{pg_port}/airflow",
            }
        )

    def _postgres_dir(self) -> Path:
        # The postgres user must be able to traverse to its data directory; pytest temp dirs are 0700.
        base = Path(os.environ.get("FLYWHEEL_PG_TMP", "/tmp"))
        d = base / f"flywheel-pg-{secrets.token_hex(4)}"
        d.mkdir(mode=0o755)
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
        self._cleanup_dirs = [*getattr(self, "_cleanup_dirs", []), d]
        return d

    @staticmethod
    def _postgres_cmd(cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _as_postgres(self, cmd: list[str]) -> None:
        out = subprocess.run(self._postgres_cmd(cmd), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {out.stderr[-2000:]}")

    def remove_scratch(self) -> None:
        for d in getattr(self, "_cleanup_dirs", []):
            shutil.rmtree(d, ignore_errors=True)

    # ---------------------------------------------------------------------------------- emulator
    def emulator(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.emulator_url}{path}", timeout=30, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def stats(self) -> JsonObject:
        """The emulator's ``/emulator/stats`` (GPUs in use now and at most, live deployments, jobs, requests)."""
        stats: JsonObject = self.emulator("GET", "/emulator/stats")
        return stats

    def reset_max(self) -> JsonObject:
        """Start the emulator's maxima (``max_gpus_in_use``, ...) again from what is in use now."""
        stats: JsonObject = self.emulator("POST", "/emulator/stats/reset-max")
        return stats
