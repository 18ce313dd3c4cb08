"""The GPU lease as a budget, against the NeMo emulator: granted while used + needed ≤ budget, refused
beyond it with the holder and the remedy named, and claims checked at once ranked the same by everyone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flywheel.config import NimConfig
from flywheel.platforms.marks import OwnerMark
from flywheel.run.experiment import Deployment, Fail, LeaseTerms, Wait
from flywheel.run.lease import Claim, GpuLease
from flywheel.run.store import MemoryStore
from tests.support.waiting import wait_for
from tests.unit.run.emulated import NIMS, Emulated, running_emulator, step


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    yield from running_emulator(tmp_path_factory.mktemp("lease-emulator"))


@pytest.fixture
def emu(emulator_server: Emulated) -> Emulated:
    emulator_server.reset()
    return emulator_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claim(emu: Emulated, nim: NimConfig, run_id: str, budget: int, clock: Clock | None = None) -> Wait | Fail:
    """One deploy claim of ``nim`` by run ``run_id`` (map index 0); the decision it ends with."""
    with emu.client() as c:
        s = step(c, MemoryStore(), run_id=run_id)
        if clock is not None:
            s.clock = clock
        lease = GpuLease(budget, {n.deployment_name: n.gpus for n in NIMS})
        d = Deployment(s, nim, lease, LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        decision = s.run(d.resource())
        assert isinstance(decision, Wait | Fail)
        return decision


def _ready(ref: str) -> Wait:
    return Wait("deployment_ready", ref, 600, "ready")


def _url(kind: str, ref: str) -> str:
    return f"http://platform/{kind}/{ref}"


def candidates(emu: Emulated) -> list[str]:
    with emu.client() as c:
        return sorted(d.name for d in c.list_deployments() if OwnerMark.read(d.custom_fields))


def test_at_budget_1_a_second_claim_waits_and_then_fails_naming_the_holder(emu: Emulated) -> None:
    first = claim(emu, NIMS[0], "run-a", budget=1)
    assert first == Wait("deployment_ready", NIMS[0].deployment_name, 600, "ready")
    clock = Clock()
    with emu.client() as c:
        s = step(c, MemoryStore(), run_id="run-b")
        s.clock = clock
        d = Deployment(s, NIMS[1], GpuLease(1), LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        waiting = s.run(d.resource())
        assert waiting == Wait("lease", NIMS[0].deployment_name, 5, "claim")
        clock.now += 61
        refused = s.run(d.resource())
    assert isinstance(refused, Fail)
    assert refused.message == (
        f"GPU lease still held by deployment dfwbp/{NIMS[0].deployment_name} (run flywheel_w/run-a) after 61s. "
        f"If that run is gone, remove it: curl -X DELETE http://platform/deployment/{NIMS[0].deployment_name}"
    )
    assert candidates(emu) == [NIMS[0].deployment_name]


def test_at_budget_2_two_claims_are_granted_and_a_third_is_refused(emu: Emulated) -> None:
    assert claim(emu, NIMS[0], "run-a", budget=2).kind == "deployment_ready"
    assert claim(emu, NIMS[1], "run-b", budget=2).kind == "deployment_ready"
    third = claim(emu, NIMS[2], "run-c", budget=2)
    assert isinstance(third, Wait) and third.kind == "lease"
    assert candidates(emu) == sorted(n.deployment_name for n in NIMS[:2])


def test_a_nim_counts_its_gpus(emu: Emulated) -> None:
    big = NimConfig(model_name="meta/llama-3.1-70b-instruct", gpus=2)
    assert claim(emu, NIMS[0], "run-a", budget=2).kind == "deployment_ready"
    with emu.client() as c:
        s = step(c, MemoryStore(), run_id="run-b")
        lease = GpuLease(2, {big.deployment_name: 2})
        view = lease.view(c, Claim(s.scope.run, "run-b", 0, big.deployment_name, 2))
        assert (view.used, view.admits(2), view.admits(1)) == (1, False, True)
        d = Deployment(s, big, lease, LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        assert s.run(d.resource()) == Wait("lease", NIMS[0].deployment_name, 5, "claim")


def test_claims_checked_at_once_rank_the_same_and_the_later_one_withdraws(emu: Emulated) -> None:
    """Two claims that both saw room (the pool let them check at once) both created: ranked oldest first,
    the later one is beyond the budget, the earlier one is not."""
    with emu.client() as c:
        for i, nim in enumerate(NIMS[:2]):
            c.create_deployment(nim, OwnerMark.candidate(f"flywheel_w/run-{i}", 0).fields())
        lease = GpuLease(1)
        early = Claim("flywheel_w/run-0", "run-0", 0, NIMS[0].deployment_name, 1)
        late = Claim("flywheel_w/run-1", "run-1", 0, NIMS[1].deployment_name, 1)
        assert (lease.beyond_budget(c, early), lease.beyond_budget(c, late)) == (False, True)
        assert GpuLease(2).beyond_budget(c, late) is False


class RacingClaim:
    """The platform as a claim sees it when another claim, checked at the same moment, creates its deployment
    between this claim's check and its create. A wrapper, because that interleaving cannot be provoked on
    demand otherwise; every call still goes to the real emulator."""

    def __init__(self, inner: object, rival: NimConfig, rival_run: str) -> None:
        self.inner, self.rival, self.rival_run = inner, rival, rival_run

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> object:
        self.inner.create_deployment(self.rival, OwnerMark.candidate(self.rival_run, 0).fields())  # type: ignore[attr-defined]
        return self.inner.create_deployment(nim, custom_fields)  # type: ignore[attr-defined]


def test_a_claim_that_lost_a_race_withdraws_its_deployment_and_waits(emu: Emulated) -> None:
    store = MemoryStore()
    with emu.client() as c:
        s = step(RacingClaim(c, NIMS[1], "flywheel_w/run-rival"), store, run_id="run-late")  # type: ignore[arg-type]
        d = Deployment(s, NIMS[0], GpuLease(1), LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        decision = s.run(d.resource())
        assert decision == Wait("lease", NIMS[1].deployment_name, 5, "claim")
        assert d.created is None and store.get("lease_withdrawn") is True
        # the rival keeps the budget; ours is gone (or going): the next claim waits, never attaches to it
        wait_for(lambda: c.get_deployment(NIMS[0].deployment_name) is None, 20, "withdrawn deployment gone")
        again = step(c, store, run_id="run-late")
        d2 = Deployment(again, NIMS[0], GpuLease(1), LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        assert again.run(d2.resource()) == Wait("lease", NIMS[1].deployment_name, 5, "claim")
    assert candidates(emu) == [NIMS[1].deployment_name]


def test_the_same_nim_for_another_run_waits_for_its_name_within_the_budget(emu: Emulated) -> None:
    """Two workloads evaluate the same NIM: its deployment name is one per namespace, so the second run waits
    for the first to release it (budget to spare or not), never adopts it nor fails."""
    assert claim(emu, NIMS[0], "run-a", budget=2).kind == "deployment_ready"
    assert claim(emu, NIMS[0], "run-b", budget=2) == Wait("lease", NIMS[0].deployment_name, 5, "claim")
    with emu.client() as c:
        (info,) = [d for d in c.list_deployments() if OwnerMark.read(d.custom_fields)]
        assert OwnerMark.read(info.custom_fields).run == "flywheel_w/run-a"  # type: ignore[union-attr]


def test_the_same_nim_created_by_a_rival_between_look_and_create_is_waited_for(emu: Emulated) -> None:
    with emu.client() as c:
        s = step(RacingClaim(c, NIMS[0], "flywheel_w/run-rival"), MemoryStore(), run_id="run-late")  # type: ignore[arg-type]
        d = Deployment(s, NIMS[0], GpuLease(2), LeaseTerms(timeout_s=60, poll_s=5), _ready, _url)
        assert s.run(d.resource()) == Wait("lease", NIMS[0].deployment_name, 5, "claim")
        assert d.created is None  # not ours: on_kill and the teardown leave it alone
        info = c.get_deployment(NIMS[0].deployment_name)
        assert info is not None and OwnerMark.read(info.custom_fields).run == "flywheel_w/run-rival"  # type: ignore[union-attr]


def test_a_shared_nim_under_the_candidates_name_still_fails_the_claim(emu: Emulated) -> None:
    with emu.client() as c:
        c.create_deployment(NIMS[0], {"flywheel_role": "judge"})
    refused = claim(emu, NIMS[0], "run-a", budget=2)
    assert isinstance(refused, Fail) and "not this run's candidate" in refused.message
