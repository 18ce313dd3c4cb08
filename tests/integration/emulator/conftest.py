"""The emulator as a real server (``flywheel emulator`` under uvicorn on a free loopback port)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.processes import ManagedProcess, free_port, http_ok
from tests.support.waiting import wait_for

__all__ = ["wait_for"]  # the emulator tests import it from here

FLYWHEEL = str(Path(sys.executable).parent / "flywheel")
FAST: dict[str, Any] = {
    "deployment_ready_s": 0.4,
    "job_created_s": 0.1,
    "customization_s": 1.2,
    "evaluation_s": 0.4,
    "model_sync_s": 0.2,
    "tick_s": 0.05,
    "lfs_threshold_bytes": 4096,
    "seed": 7,
}


class Emulator:
    def __init__(self, url: str, process: ManagedProcess) -> None:
        self.url, self.process = url, process
        self.http = httpx.Client(base_url=url, timeout=30)

    def call(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/emulator/stats")

    def faults(self, faults: list[dict[str, Any]]) -> None:
        self.call("POST", "/emulator/faults", json=faults)

    def served(self) -> set[str]:
        return {m["id"] for m in self.call("GET", "/v1/models")["data"]}


@contextmanager
def run_emulator(
    workdir: Path, settings: dict[str, Any] | None = None, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[Emulator]:
    port = free_port()
    cmd = [FLYWHEEL, "emulator", "--port", str(port), *args]
    if settings is not None:
        cfg = workdir / f"emulator-{port}.yaml"
        cfg.write_text(yaml.safe_dump(settings))
        cmd += ["--config", str(cfg)]
    url = f"http://127.0.0.1:{port}"
    proc = ManagedProcess(
        f"emulator-{port}", cmd, workdir / "logs", env=env, ready=http_ok(f"{url}/emulator/stats"), ready_timeout=30
    )
    with proc:
        emu = Emulator(url, proc)
        try:
            yield emu
        finally:
            emu.http.close()


@pytest.fixture(scope="session")
def emu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with run_emulator(tmp_path_factory.mktemp("emulator"), FAST) as emu:
        yield emu


@pytest.fixture
def emu(emu_server: Emulator) -> Emulator:
    emu_server.call("DELETE", "/emulator/faults")
    emu_server.call("POST", "/emulator/reset")
    return emu_server


@pytest.fixture
def sdk(emu: Emulator) -> Any:
    from nemo_microservices import NeMoMicroservices

    client = NeMoMicroservices(
        base_url=emu.url, inference_base_url=emu.url, _strict_response_validation=True, max_retries=0
    )
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Data Store speaks the classic HF protocol: what HF_HUB_DISABLE_XET=1 does at import time."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
