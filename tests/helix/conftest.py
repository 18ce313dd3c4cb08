"""Real NeMo Helix services (``make helix``) plus the flywheel emulator standing in for the GPU cluster."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.localstack.helix import HelixServices, helix_installed, helix_venv
from flywheel.platforms.helix.client import HelixClient
from tests.integration.emulator.conftest import FAST, Emulator, _no_xet, run_emulator

__all__ = ["_no_xet"]  # autouse: the emulator's Data Store speaks classic HF (no Xet)

SDK_CHECK = Path(__file__).with_name("sdk_check.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Helix tests run last: the session-wide Helix (~650 MB) then lives only while they run."""
    items.sort(key=lambda item: item.get_closest_marker("helix") is not None)


@pytest.fixture(scope="session")
def helix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelixServices]:
    if not helix_installed():
        pytest.fail(f"NeMo Helix is not installed in {helix_venv()}: run `make helix` (or `make test-helix`)")
    with HelixServices(tmp_path_factory.mktemp("helix")) as services:
        yield services


@pytest.fixture(scope="session")
def helix_emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with run_emulator(tmp_path_factory.mktemp("emulator"), {**FAST, "customization_s": 2.0}) as emu:
        yield emu


@pytest.fixture
def emu(helix_emu: Emulator) -> Emulator:
    helix_emu.call("DELETE", "/emulator/faults")
    helix_emu.call("POST", "/emulator/reset")
    return helix_emu


@pytest.fixture
def workspace(request: pytest.FixtureRequest) -> str:
    """A fresh workspace name per test (Helix state lives for the whole session)."""
    return "t-" + request.node.name.lower().replace("_", "-")[5:40].strip("-")


@pytest.fixture
def client(helix: HelixServices, emu: Emulator, workspace: str) -> Iterator[HelixClient]:
    with HelixClient(helix.url, workspace, gpu_base_url=emu.url) as c:
        c.ensure_workspace("flywheel test")
        yield c


@pytest.fixture(scope="session")
def openapi(helix: HelixServices) -> dict[str, Any]:
    return httpx.get(f"{helix.url}/openapi.json", timeout=30).json()


def sdk_check(helix: HelixServices, openapi: dict[str, Any], cases: list[dict[str, Any]], tmp: Path) -> dict:
    """Problems per case, found by the Helix SDK's own types in the Helix interpreter (see sdk_check.py)."""
    spec = tmp / "sdk-cases.json"
    spec.write_text(json.dumps({"openapi": openapi, "cases": cases}))
    out = subprocess.run(
        [str(helix.python), str(SDK_CHECK), str(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **helix.env()},
        cwd=tmp,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
