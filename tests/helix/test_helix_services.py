"""``HelixServices``: our config on a free loopback port, ready on /health/ready, state kept out of $HOME,
and stopped by pid with every process it spawned."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from flywheel.localstack.helix import SERVICES, HelixServices
from tests.support.processes import port_open

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


def test_services_start_with_our_config_and_stop_by_pid(tmp_path: Path) -> None:
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
    assert not port_open(services.port)()
    assert _group_members(pid) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert {p for p in home_dirs if p.exists()} == home_before  # Helix state went to the data dir, not $HOME


def test_start_fails_clearly_without_the_install(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="make helix"):
        HelixServices(tmp_path / "h", venv=tmp_path / "no-venv").start()
