"""A LiteLLM proxy with the flywheel hook on a free loopback port (tests and the demo), from the venv
``make gateway`` installs (``.cache/gateway/venv``; ``$FLYWHEEL_GATEWAY_VENV`` points elsewhere). Started as a
:class:`ManagedProcess` and stopped by pid. Offline: LiteLLM's bundled cost map, no telemetry."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.localstack.processes import ManagedProcess, free_port, http_ok
from flywheel.serving.adapters.gateway import UPSTREAM_KEY_ENV, write_gateway_config

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_VENV = REPO_ROOT / ".cache" / "gateway" / "venv"


def gateway_venv() -> Path:
    return Path(os.environ.get("FLYWHEEL_GATEWAY_VENV", str(DEFAULT_VENV)))


def gateway_installed() -> bool:
    return (gateway_venv() / "bin" / "litellm").is_file()


@dataclass
class Gateway:
    workdir: Path
    upstream_url: str
    routing_file: Path
    log_file: Path
    serving_log_dir: Path
    port: int = 0
    upstream_key: str = "none"
    process: ManagedProcess | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Gateway:
        config = write_gateway_config(self.workdir / "gateway", self.upstream_url)
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "NO_PROXY": "*",
            UPSTREAM_KEY_ENV: self.upstream_key,
            "FLYWHEEL_ROUTING_FILE": str(self.routing_file),
            "FLYWHEEL_LOG_FILE": str(self.log_file),
            "FLYWHEEL_SERVING_LOG_DIR": str(self.serving_log_dir),
        }
        cmd = [str(gateway_venv() / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
        self.process = ManagedProcess(
            "gateway",
            [*cmd, "--port", str(self.port)],
            self.workdir / "logs",
            env=env,
            cwd=config.parent,
            ready=http_ok(f"{self.url}/health/liveliness"),
            ready_timeout=180,
        )
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
