"""The NeMo emulator for the run core's tests: a real server on a free loopback port, stopped by pid."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from flywheel.config import NimConfig
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.nmp.endpoints import NemoEndpoints
from flywheel.run.experiment import ExperimentStep, Scope
from flywheel.run.store import MemoryStore
from tests.support.processes import ManagedProcess, free_port, http_ok

BIN = Path(sys.executable).parent
SETTINGS = {"deployment_ready_s": 0.2, "job_created_s": 0.05, "evaluation_s": 0.3, "model_sync_s": 0.1}
SETTINGS |= {"tick_s": 0.05, "gpus": 4, "seed": 5}
NIMS = [NimConfig(model_name=f"meta/llama-3.2-{size}-instruct") for size in ("1b", "3b", "8b")]


class Emulated:
    """Handle on a running emulator: reset between tests, clients on its URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def reset(self) -> None:
        self.http.delete("/emulator/faults").raise_for_status()
        self.http.post("/emulator/reset").raise_for_status()

    def faults(self, *faults: dict[str, object]) -> None:
        self.http.post("/emulator/faults", json=list(faults)).raise_for_status()

    def client(self) -> NemoClient:
        url = self.url
        ep = NemoEndpoints(base_url=url, nim_url=url, datastore_url=url, namespace="dfwbp", timeout_s=5.0)
        return NemoClient(ep, policy=RetryPolicy(max_retries=1, base_s=0.05, cap_s=0.1))


def running_emulator(work: Path) -> Iterator[Emulated]:
    port = free_port()
    config = work / "emulator.yaml"
    config.write_text(yaml.safe_dump(SETTINGS))
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "flywheel"), "emulator", "--port", str(port), "--config", str(config)]
    with ManagedProcess(f"emulator-{port}", cmd, work, ready=http_ok(f"{url}/emulator/stats"), ready_timeout=30):
        emu = Emulated(url)
        try:
            yield emu
        finally:
            emu.http.close()


def step(client: NemoClient, store: MemoryStore, run_id: str = "r1", map_index: int = 0, task: str = "deploy_nim"):
    return ExperimentStep(client, store, Scope("flywheel_w", run_id, task, map_index))
