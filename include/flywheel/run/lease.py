"""The GPU lease as a budget (docs/contracts.md#the-gpu-lease).

Live candidate deployments (owner-marked ``candidate``, whichever workload or run made them) never use more
GPUs than ``platform.gpu_budget``. A deployment counts the GPUs of its NIM (``nims[].gpus``); a customization
job of another experiment that is still running while its experiment's deployment is gone (cancelled, not
yet stopped) counts one GPU. At budget 1 with one-GPU NIMs this is exactly the old invariant: at most one
candidate deployment (with its customization job) at a time.

A claim is granted only when ``used + needed ≤ budget``. Several claims may be checked at once (the pool
``flywheel_gpu`` has ``budget`` slots), so a granted claim is verified after its deployment exists:
every claimant ranks all live candidates the same way (oldest first, then by name) and the one that falls
beyond the budget withdraws (deletes its deployment) and waits again. Check, create and verify are what
keeps the invariant, whatever the pool lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from flywheel.platforms.core.states import DeploymentInfo
from flywheel.platforms.marks import JobMark, OwnerMark, is_candidate, owner_of
from flywheel.platforms.port import Platform

HolderKind = Literal["deployment", "customization"]


@dataclass(frozen=True)
class Holder:
    """Something that holds GPUs of the budget."""

    kind: HolderKind
    name: str  # deployment name or customization job id
    namespace: str
    owner: str  # the owning run (``<dag_id>/<run_id>`` or the job's run tag), ``?`` when unknown
    gpus: int
    since: str = ""  # creation time as the platform reports it: the rank among claimants

    def label(self) -> str:
        if self.kind == "deployment":
            return f"deployment {self.namespace}/{self.name}"
        return f"customization job {self.name}"


@dataclass(frozen=True)
class Claim:
    """What one experiment asks for: ``gpus`` for the deployment ``name``, made by run ``run`` (the owner
    mark's ``<dag_id>/<run_id>``) for its map index."""

    run: str
    run_id: str
    map_index: int
    name: str
    gpus: int

    def mine(self, info: DeploymentInfo) -> bool:
        """The claim's own deployment (its name, with this run's candidate mark)."""
        return info.name == self.name and OwnerMark.candidate(self.run).owns(info.custom_fields)


@dataclass(frozen=True)
class LeaseView:
    """The budget and what holds it now (the claimant's own deployment excluded)."""

    budget: int
    holders: tuple[Holder, ...]

    @property
    def used(self) -> int:
        return sum(h.gpus for h in self.holders)

    def admits(self, gpus: int) -> bool:
        return self.used + gpus <= self.budget


class GpuLease:
    """Counts GPUs of live candidates on one platform namespace against ``budget``.

    ``gpus_of`` maps a deployment name to its NIM's ``gpus`` (from config: every workload reads the same
    ``nims``); a candidate the config does not know counts what its deployment asked for, else one GPU."""

    def __init__(self, budget: int, gpus_of: Mapping[str, int] | None = None) -> None:
        if budget < 1:
            raise ValueError(f"gpu_budget must be ≥ 1, got {budget}")
        self.budget = budget
        self.gpus_of = dict(gpus_of or {})

    # ------------------------------------------------------------------ reading the platform
    def holders(self, platform: Platform, claim: Claim, include_own: bool = False) -> list[Holder]:
        candidates = [d for d in platform.list_deployments() if is_candidate(d.custom_fields)]
        out = [self.holder(d) for d in candidates if include_own or not claim.mine(d)]
        covered = [OwnerMark.read(d.custom_fields) for d in candidates]
        for job_id, state, fields in platform.list_customizations():
            if state.terminal or not JobMark.is_job_mark(fields):
                continue
            if JobMark.of_experiment(fields, claim.run_id, claim.map_index):
                continue  # our own experiment's job runs on our own claim
            if any(m is not None and _job_of(fields, m) for m in covered):
                continue  # its experiment's deployment is live and already counted
            out.append(Holder("customization", job_id, platform.ns, owner_of(fields), 1, _since(state.raw)))
        return out

    def view(self, platform: Platform, claim: Claim) -> LeaseView:
        return LeaseView(self.budget, tuple(self.holders(platform, claim)))

    def beyond_budget(self, platform: Platform, claim: Claim) -> bool:
        """After the claim's deployment exists: True when, ranked with every other live candidate (oldest
        first, then by name), it does not fit the budget, so this claimant must withdraw."""
        held = self.holders(platform, claim, include_own=True)
        jobs = [h for h in held if h.kind == "customization"]
        deployments = sorted((h for h in held if h.kind == "deployment"), key=lambda h: (h.since, h.name))
        used = sum(h.gpus for h in jobs)
        for h in deployments:
            used += h.gpus
            if h.name == claim.name:
                return used > self.budget
        return False  # ours is gone: nothing to withdraw

    def holder(self, info: DeploymentInfo) -> Holder:
        """A candidate deployment as a holder of the budget."""
        gpus = self.gpus_of.get(info.name) or _asked_gpus(info) or 1
        owner = owner_of(info.custom_fields)
        return Holder("deployment", info.name, info.namespace, owner, gpus, _since(info.raw))


def _job_of(fields: Mapping[str, str], mark: OwnerMark) -> bool:
    """The job belongs to the experiment of candidate ``mark`` (same run id and map index)."""
    if mark.map_index is None:
        return False
    run_id = mark.run.partition("/")[2]  # the run key is <dag_id>/<run_id>
    return JobMark.of_experiment(fields, run_id, mark.map_index)


def _since(raw: Mapping[str, object]) -> str:
    value = raw.get("created_at")
    return str(value) if value else ""


def _asked_gpus(info: DeploymentInfo) -> int | None:
    """The GPUs an NMP deployment asked for (``config.nim_deployment.gpu``), if the answer says."""
    config = info.raw.get("config")
    nim = config.get("nim_deployment") if isinstance(config, Mapping) else None
    gpus = nim.get("gpu") if isinstance(nim, Mapping) else None
    return gpus if isinstance(gpus, int) and not isinstance(gpus, bool) and gpus >= 1 else None


def lease_message(holder: Holder, waited_s: float, remedy: str) -> str:
    """The lease timeout: who holds it and how to remove it (one line)."""
    return (
        f"GPU lease still held by {holder.label()} (run {holder.owner}) after {waited_s:.0f}s. "
        f"If that run is gone, remove it: {remedy}"
    )
