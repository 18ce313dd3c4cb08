"""``HelixServices``: our config on a free loopback port, ready on /health/ready, state kept out of $HOME,
and stopped by pid with every process it spawned."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from flywheel.localstack.helix import SERVICES, HelixServices, _wait_gone, descendants
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.client import HelixClient
from tests.integration.emulator.conftest import FAST, run_emulator
from tests.support.processes import port_open
from tests.support.waiting import wait_for
from tests.unit.emulator.records import jsonl, tool_record

from .helpers import JUDGE

pytestmark = [pytest.mark.helix, pytest.mark.integration]


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    members.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return members


def _start_slow_evaluation(services: HelixServices, emulator_url: str) -> None:
    with HelixClient(services.url, "stop-test") as client:
        client.ensure_workspace()
        client.register_provider(P.provider_body("emu", emulator_url, [JUDGE], {"flywheel_role": "provider"}))
        entity = wait_for(lambda: client.served_entity("emu", JUDGE), 90, "judge served", 0.5)
        dataset = client.upload_files("eval", {"eval_data.jsonl": jsonl([tool_record(i) for i in range(4)])})
        spec = P.evaluation_spec("tool_calling", dataset, client.target(entity), None, None)
        client.start_evaluation(P.evaluation_job("slow", spec, {"flywheel_run": "stop-test"}))


def test_services_start_with_our_config_and_stop_by_pid(tmp_path: Path) -> None:
    slow_nim = {**FAST, "faults": [{"kind": "latency", "endpoint": "nim.chat", "seconds": 120}]}
    with run_emulator(tmp_path, slow_nim) as emu:
        _check_start_and_stop(tmp_path, emu.url)


def _check_start_and_stop(tmp_path: Path, emulator_url: str) -> None:
    services = HelixServices(tmp_path / "helix")
    home_dirs = [
        Path.home() / d / name
        for d in (".config", ".cache", ".local/state", ".local/share")
        for name in ("nhx", "nemo")
    ]
    home_before = {p for p in home_dirs if p.exists()}
    with services:
        status = httpx.get(f"{services.url}/status", timeout=10).json()
        assert set(status["services"]["ready"]) == set(SERVICES.split(",")) and not status["services"]["not_ready"]
        assert status["controllers"]["healthy"]
        config = (tmp_path / "helix" / "helix.yaml").read_text()
        assert f"127.0.0.1:{services.port}" in config and "${" not in config
        assert (tmp_path / "helix" / "nhxdata").is_dir()  # SQLite and files under the run's data dir
        assert services.rss_mb() > 100
        pid = services.pid
        assert pid in _group_members(pid)
        _start_slow_evaluation(services, emulator_url)  # its job process waits on the NIM stand-in
        jobs = wait_for(lambda: descendants(pid), 60, "an evaluation job process", 0.2)
        assert all(job not in _group_members(pid) for job in jobs)  # Helix puts jobs in sessions of their own
    assert not port_open(services.port)()
    assert _group_members(pid) == []
    assert _wait_gone(jobs, 0) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert {p for p in home_dirs if p.exists()} == home_before  # Helix state went to the data dir, not $HOME


def test_start_fails_clearly_without_the_install(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="make helix"):
        HelixServices(tmp_path / "h", venv=tmp_path / "no-venv").start()
