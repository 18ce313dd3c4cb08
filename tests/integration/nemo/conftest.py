"""Real servers for the NeMo client tests: the scripted fault server and the NeMo emulator.

Both run as separate processes (uvicorn / ``flywheel emulator``) on free loopback ports, started with
:class:`ManagedProcess` and stopped by pid when the session ends.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.nmp.endpoints import NemoEndpoints
from tests.support.processes import ManagedProcess, free_port, http_ok

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
FAST_EMULATOR: dict[str, Any] = {
    "deployment_ready_s": 0.3,
    "job_created_s": 0.1,
    "customization_s": 1.0,
    "evaluation_s": 0.3,
    "model_sync_s": 0.2,
    "tick_s": 0.05,
    "lfs_threshold_bytes": 4096,
    "seed": 11,
}


def fast_policy(max_retries: int = 4) -> RetryPolicy:
    """The production policy shape with short waits so retry tests finish quickly."""
    return RetryPolicy(max_retries=max_retries, base_s=0.05, cap_s=0.2, rng=random.Random(0))


class Scripted:
    """Handle on the scripted fault server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def script(self, method: str, path: str, *responses: dict[str, Any]) -> None:
        self.http.post(
            "/_script", json={"method": method, "path": path, "responses": list(responses)}
        ).raise_for_status()

    def log(self, path: str | None = None) -> list[dict[str, Any]]:
        entries = self.http.get("/_log").json()
        return [e for e in entries if path is None or e["path"] == path]

    def endpoints(self, **kw: Any) -> NemoEndpoints:
        return NemoEndpoints(
            **{
                "base_url": self.url,
                "nim_url": self.url,
                "datastore_url": self.url,
                "namespace": "dfwbp",
                "timeout_s": 2.0,
                **kw,
            }
        )

    def client(self, max_retries: int = 4, **kw: Any) -> NemoClient:
        return NemoClient(self.endpoints(max_retries=max_retries, **kw), policy=fast_policy(max_retries))


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scripted]:
    port = free_port()
    cmd = [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "tests.integration.nemo.fault_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = ManagedProcess(
        f"nemo-faults-{port}",
        cmd,
        tmp_path_factory.mktemp("faults"),
        cwd=ROOT,
        ready=http_ok(f"http://127.0.0.1:{port}/_log"),
        ready_timeout=30,
    )
    with proc:
        server = Scripted(f"http://127.0.0.1:{port}")
        try:
            yield server
        finally:
            server.http.close()


@pytest.fixture
def faults(fault_server: Scripted) -> Scripted:
    fault_server.http.post("/_reset").raise_for_status()
    return fault_server


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self.http.post("/emulator/faults", json=faults).raise_for_status()

    def endpoints(self, **kw: Any) -> NemoEndpoints:
        return NemoEndpoints(
            **{
                "base_url": self.url,
                "nim_url": self.url,
                "datastore_url": self.url,
                "namespace": "dfwbp",
                "timeout_s": 5.0,
                **kw,
            }
        )

    def client(self, max_retries: int = 4, **kw: Any) -> NemoClient:
        return NemoClient(self.endpoints(max_retries=max_retries, **kw), policy=fast_policy(max_retries))


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    if not (ROOT / "include" / "flywheel" / "emulator" / "app.py").is_file():
        pytest.skip("the NeMo emulator (flywheel.emulator.app) is not available")
    work = tmp_path_factory.mktemp("nemo-emulator")
    port = free_port()
    config = work / "emulator.yaml"
    config.write_text(yaml.safe_dump(FAST_EMULATOR))
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "flywheel"), "emulator", "--port", str(port), "--config", str(config)]
    with ManagedProcess(f"emulator-{port}", cmd, work, ready=http_ok(f"{url}/emulator/stats"), ready_timeout=30):
        emu = Emulator(url)
        try:
            yield emu
        finally:
            emu.http.close()


@pytest.fixture
def emulator(emulator_server: Emulator) -> Emulator:
    emulator_server.http.delete("/emulator/faults").raise_for_status()
    emulator_server.http.post("/emulator/reset").raise_for_status()
    return emulator_server
