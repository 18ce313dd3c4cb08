"""Lifecycles driven with explicit clock values (no sleeping)."""

from __future__ import annotations

from flywheel.emulator.faults import FAULT_LIST
from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.state import Deployment, Platform


def _deploy(p: Platform, name: str, at: float, gpus: int = 1, candidate: bool = True) -> Deployment:
    body = {"config": {"model": f"meta/{name}"}, "custom_fields": {"flywheel_role": "candidate"} if candidate else {}}
    d = Deployment("ns", name, f"meta/{name}", gpus, body, created=at)
    p.deployments[d.key] = d
    return d


def test_capacity_keeps_extra_deployments_pending_until_gpus_free() -> None:
    p = Platform(EmulatorSettings(gpus=2, deployment_ready_s=2))
    a, b, c = _deploy(p, "a-1b", 0), _deploy(p, "b-1b", 0.1), _deploy(p, "c-1b", 0.2)
    p.tick(1.0)
    assert [a.status, b.status, c.status] == ["pending", "pending", "pending"]
    assert c.allocated is None and "needs 1 GPU" in c.description
    p.tick(3.0)
    assert [a.status, b.status, c.status] == ["ready", "ready", "pending"]
    assert set(p.served_models()) >= {"meta/a-1b", "meta/b-1b"} and "meta/c-1b" not in p.served_models()
    del p.deployments[a.key]
    p.tick(3.5)
    assert c.allocated == 3.5
    p.tick(5.6)
    assert c.status == "ready"
    s = p.stats()
    assert s["max_gpus_in_use"] == 2 and s["gpus_in_use"] == 2
    assert s["live_flywheel_deployments"] == 2 and s["max_live_flywheel_deployments"] == 3


def test_deployment_failure_and_stuck_faults() -> None:
    faults = FAULT_LIST.validate_python([{"kind": "stuck", "model": "meta/s-1b"}])
    p = Platform(EmulatorSettings(faults=faults, deployment_ready_s=1))
    stuck = _deploy(p, "s-1b", 0)
    failing = _deploy(p, "f-1b", 0)
    failing.failure = FAULT_LIST.validate_python([{"kind": "job_failure", "job": "deployment"}])[0]  # type: ignore
    p.tick(0.5)
    p.tick(5)
    assert stuck.status == "pending" and stuck.allocated is None
    assert failing.status == "failed" and p.gpus_in_use() == 0
    p.faults.clear()
    p.tick(6)
    p.tick(7.5)
    assert stuck.status == "ready"


def test_reset_clears_state_and_maxima() -> None:
    p = Platform(EmulatorSettings())
    _deploy(p, "a-1b", 0)
    p.tick(1)
    p.requests["x.y"] += 1
    p.reset()
    s = p.stats()
    assert s["live_deployments"] == 0 and s["max_gpus_in_use"] == 0 and s["requests"] == {}
