"""Lifecycles driven with explicit clock values (no sleeping)."""

from __future__ import annotations

from flywheel.emulator.faults import FAULT_LIST
from flywheel.emulator.jobs import DmsDeployment, HelixDeployment
from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.state import Platform
from flywheel.platforms.marks import OwnerMark

CANDIDATE = OwnerMark.candidate("dag/run").fields()


def _deploy(p: Platform, name: str, at: float, gpus: int = 1, candidate: bool = True) -> DmsDeployment:
    marks = dict(CANDIDATE) if candidate else {}
    d = DmsDeployment("ns", name, f"meta/{name}", gpus, at, config={"model": f"meta/{name}"}, custom_fields=marks)
    p.deployments[d.key] = d
    return d


def _deploy_v2(p: Platform, name: str, at: float, gpus: int = 1) -> HelixDeployment:
    d = HelixDeployment("ws", name, f"meta/{name}", gpus, at, platform_id=name, config_name=name, marks=CANDIDATE)
    p.v2_deployments[d.key] = d
    return d


def test_capacity_keeps_extra_deployments_pending_until_gpus_free() -> None:
    p = Platform(EmulatorSettings(gpus=2, deployment_ready_s=2))
    a, b, c = _deploy(p, "a-1b", 0), _deploy(p, "b-1b", 0.1), _deploy(p, "c-1b", 0.2)
    p.tick(1.0)
    assert [a.status, b.status, c.status] == ["pending", "pending", "pending"]
    assert c.allocated is None and "needs 1 GPU" in c.status_message
    p.tick(3.0)
    assert [a.status, b.status, c.status] == ["ready", "ready", "pending"]
    assert set(p.served_models()) >= {"meta/a-1b", "meta/b-1b"} and "meta/c-1b" not in p.served_models()
    del p.deployments[a.key]
    p.tick(3.5)
    assert c.allocated == 3.5
    p.tick(5.6)
    assert c.status == "ready"
    s = p.stats()
    assert s.max_gpus_in_use == 2 and s.gpus_in_use == 2 and s.pending_deployments == 0
    assert s.live_flywheel_deployments == 2 and s.max_live_flywheel_deployments == 3


def test_helix_deployments_share_the_pool_and_wait_like_dms_ones() -> None:
    p = Platform(EmulatorSettings(gpus=3, deployment_ready_s=1))
    dms = _deploy(p, "a-1b", 0, gpus=2)
    small, big = _deploy_v2(p, "b-1b", 0.1), _deploy_v2(p, "c-8b", 0.2, gpus=2)
    p.tick(0.5)
    p.tick(2.0)
    assert [dms.status, small.status, big.status] == ["ready", "ready", "pending"]
    assert big.allocated is None and "needs 2 GPU(s), 0 of 3 free" in big.status_message
    s = p.stats()
    assert (s.gpus_in_use, s.pending_deployments, s.live_flywheel_deployments) == (3, 1, 3)
    del p.v2_deployments[small.key]
    p.tick(2.5)
    assert big.allocated is None  # one GPU free is not enough: it keeps waiting
    del p.deployments[dms.key]
    p.tick(3.0)
    p.tick(4.5)
    assert big.status == "ready" and p.stats().max_gpus_in_use == 3


def test_a_deployment_larger_than_the_pool_stays_pending() -> None:
    p = Platform(EmulatorSettings(gpus=1, deployment_ready_s=0))
    huge = _deploy_v2(p, "h-70b", 0, gpus=4)
    p.tick(100.0)
    assert huge.status == "pending" and huge.allocated is None and p.gpus_in_use() == 0


def test_reset_max_starts_the_maxima_again_from_what_is_in_use() -> None:
    p = Platform(EmulatorSettings(gpus=2, deployment_ready_s=1))
    a, b = _deploy(p, "a-1b", 0), _deploy(p, "b-1b", 0)
    p.tick(2)
    del p.deployments[a.key]
    p.tick(3)
    assert (p.stats().max_gpus_in_use, p.stats().max_live_flywheel_deployments) == (2, 2)
    p.reset_max()
    s = p.stats()
    assert (s.max_gpus_in_use, s.max_live_flywheel_deployments, s.gpus_in_use) == (1, 1, 1)
    assert p.deployments == {b.key: b}


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
    assert s.live_deployments == 0 and s.max_gpus_in_use == 0 and s.requests == {}


def test_hosted_models_answer_without_a_deployment_or_a_gpu() -> None:
    p = Platform(EmulatorSettings(gpus=1, hosted_models=["meta/llama-3.1-8b-instruct"], hosted_shared_models=False))
    served = p.served_models()
    assert set(served) == {"meta/llama-3.1-8b-instruct"} and not served["meta/llama-3.1-8b-instruct"].adapter
    stats = p.stats()
    assert (stats.gpus_in_use, stats.max_gpus_in_use, stats.live_deployments) == (0, 0, 0)
