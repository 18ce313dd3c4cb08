"""The experiment step: deploy / customize / evaluate / teardown as a small state machine over the platform port.

One resumable decision serves every platform object a task instance owns::

    find ─┬─ found, usable ──────────► attach ─┐
          ├─ found, ended failed ─┐            ├─► observe ─► done | failed
          └─ nothing ─────────────┴─► create ──┘
    (any time) cancel: stop the job this step started; release: delete this run's own candidate

``find`` looks up what this try or an earlier try created (the id in the state store, a deterministic request
id, or the candidate owner mark), so a retry or a restart never starts a second object. Every call returns a
:data:`Decision` the orchestrator executes: wait (defer on a :class:`Wait`), finish, fail or skip. Nothing
here imports Airflow: the adapter (``flywheel.airflow.experiments``) turns task context into a
:class:`Scope` and a :class:`~flywheel.run.store.StateStore`, and decisions into deferrals.

The deployment's ``create`` claims the GPU lease first (:mod:`flywheel.run.lease`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypeAlias, TypedDict

from flywheel.config import NimConfig
from flywheel.platforms.core.errors import NemoNotFoundError
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.marks import OwnerMark, is_candidate, is_own_candidate, run_key
from flywheel.platforms.port import Platform
from flywheel.run.lease import Claim, GpuLease, Holder, lease_message
from flywheel.run.store import StateStore, read_float, read_int, read_str

ResourceKind = Literal["deployment", "customization", "evaluation"]
JobKind = Literal["customization", "evaluation"]
Phase = Literal["find", "attach", "create", "observe", "done", "failed", "cancel", "release"]
WaitKind = Literal["deployment_ready", "deployment_gone", "job", "model_sync", "lease"]


# ---------------------------------------------------------------------------------------------- observing
@dataclass(frozen=True)
class Seen:
    """One observation of the watched object."""

    state: str
    terminal: bool = False
    succeeded: bool = False
    progress: float | None = None
    detail: str | None = None


def seen_deployment(info: DeploymentInfo | None) -> Seen:
    if info is None:
        return Seen("deleted", True, False, detail="deployment no longer exists")
    return Seen(info.status, info.is_terminal, info.is_ready, detail=info.detail if info.is_failed else None)


def seen_job(job: JobState) -> Seen:
    return Seen(job.status, job.terminal, job.succeeded, job.progress, job.detail)


def seen_model(served: list[str], model_id: str) -> Seen:
    return Seen("synced", True, True) if model_id in served else Seen("not-synced")


# ---------------------------------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class Wait:
    """Defer until a wait is over, then call ``resume`` (a method of the adapter) with its event.
    ``kind`` names the trigger; ``lease`` is a plain timer of ``timeout_s`` seconds (the lease poll)."""

    kind: WaitKind
    ref: str
    timeout_s: float
    resume: str


@dataclass(frozen=True)
class Finish:
    """The step is over: ``ref`` is what it created or re-attached to (``created`` tells which)."""

    ref: str
    created: bool = False


@dataclass(frozen=True)
class Fail:
    message: str


@dataclass(frozen=True)
class Skip:
    reason: str


Decision: TypeAlias = Wait | Finish | Fail | Skip


class Entry(TypedDict):
    """A result entry (docs/contracts.md#results)."""

    nim: str
    experiment: str
    status: str
    scores: dict[str, float]
    error: str | None
    job_id: str | None
    duration_s: float | None
    rows_url: NotRequired[str]  # the experiment's rows artifact, when its per-row results were read


def result_entry(
    nim: str,
    experiment: str,
    status: str,
    *,
    scores: dict[str, float] | None = None,
    error: str | None = None,
    job_id: str | None = None,
    duration_s: float | None = None,
) -> Entry:
    """The one place a result entry is built (until ``flywheel.run.models.ResultEntry`` replaces it)."""
    return {
        "nim": nim,
        "experiment": experiment,
        "status": status,
        "scores": scores or {},
        "error": error,
        "job_id": job_id,
        "duration_s": round(float(duration_s), 1) if duration_s is not None else None,
    }


# ---------------------------------------------------------------------------------------------- the step
@dataclass(frozen=True)
class Scope:
    """Which task instance the step runs for."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int

    @property
    def run(self) -> str:
        """The owner mark's ``flywheel_run`` of what this run creates."""
        return run_key(self.dag_id, self.run_id)

    def request_id(self, generation: int) -> str:
        """Deterministic id of the object this task instance creates: the same for every try (a try that
        crashed between "created" and "stored the id" finds it again), new only after one ended failed."""
        key = f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.map_index}/{generation}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class Resource:
    """The platform object one task instance owns: how to find, observe and create it, and how to wait."""

    kind: ResourceKind
    find: Callable[[str], str | None]  # request id -> what an earlier try created
    observe: Callable[[str], Seen]  # id -> one look at it
    create: Callable[[str], str | Decision]  # request id -> new id, or a decision (e.g. wait for the lease)
    wait: Callable[[str], Wait]  # id -> the wait for it to be over
    stored: bool = True  # look up the id an earlier try stored before asking the platform
    renew_failed: bool = True  # an earlier try's object that ended failed is replaced by a new one


@dataclass
class Trace:
    """The phases a step went through (logs and tests)."""

    phases: list[Phase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ExperimentStep:
    """The state machine of one task instance over ``platform``, remembering through ``store``."""

    def __init__(
        self, platform: Platform, store: StateStore, scope: Scope, clock: Callable[[], float] = time.time
    ) -> None:
        self.platform, self.store, self.scope, self.clock = platform, store, scope, clock
        self.trace = Trace()

    def _phase(self, phase: Phase, note: str | None = None) -> None:
        self.trace.phases.append(phase)
        if note:
            self.trace.notes.append(note)

    def request_id(self) -> str:
        return self.scope.request_id(read_int(self.store, "generation"))

    # ------------------------------------------------------------------ find → attach | create → observe
    def run(self, r: Resource) -> Decision:
        """Find or create the object; then the wait for it (``Finish`` is never returned here: the
        adapter finishes when the wait's event arrives, see :meth:`outcome`)."""
        ref = self.find(r)
        if ref is None:
            created = r.create(self.request_id())
            if not isinstance(created, str):
                return created
            ref = created
            self.store.set("started", self.clock())
            self._phase("create", f"{r.kind} {ref} created")
        elif self.store.get("started") is None:
            self.store.set("started", self.clock())
        self.store.set(r.kind, ref)
        self._phase("observe")
        return r.wait(ref)

    def find(self, r: Resource) -> str | None:
        self._phase("find")
        ref = (read_str(self.store, r.kind) if r.stored else None) or r.find(self.request_id())
        if not ref:
            return None
        seen = r.observe(ref)
        if r.renew_failed and seen.terminal and not seen.succeeded:
            self._phase("create", f"earlier {r.kind} {ref} ended '{seen.state}'; submitting a new one")
            self.store.set("generation", read_int(self.store, "generation") + 1)
            return None
        self._phase("attach", f"re-attaching to {r.kind} {ref} ({seen.state}) created by an earlier try")
        return ref

    def ref(self, kind: ResourceKind) -> str | None:
        return read_str(self.store, kind)

    def elapsed(self) -> float | None:
        started = read_float(self.store, "started")
        return self.clock() - started if started is not None else None

    def outcome(self, kind: ResourceKind, event: WaitEvent | None) -> Finish | Fail:
        """The wait's event → done or failed (the adapter cancels or releases on a failure, see below)."""
        event = event or {}
        ref = self.ref(kind) or str(event.get("ref") or "")
        if event.get("status") == "success":
            self._phase("done")
            return Finish(ref)
        self._phase("failed")
        status = event.get("status") or "failed"
        return Fail(f"{kind} {ref} {status}: {event.get('detail') or event.get('state')}")

    # ------------------------------------------------------------------ cancel / release
    def cancel(self, kind: JobKind, job_id: str | None = None) -> bool:
        """Stop the job this step started (or ``job_id``). True when it no longer runs. A job the
        platform no longer knows (404, e.g. it lost its state in a restart) is gone."""
        job_id = job_id or self.ref(kind)
        if not job_id:
            return True
        self._phase("cancel", f"{kind} {job_id}")
        read = self.platform.get_customization if kind == "customization" else self.platform.get_evaluation
        stop = self.platform.cancel_customization if kind == "customization" else self.platform.cancel_evaluation
        try:
            if read(job_id).terminal:
                return True
            stop(job_id)
            return bool(read(job_id).terminal)
        except NemoNotFoundError:
            return True

    def release(self, name: str | None = None) -> bool:
        """Delete this run's own candidate deployment ``name`` (default: the one the step created); never
        anyone else's. True when a deletion was asked."""
        name = name or self.ref("deployment")
        if not name:
            return False
        info = self.platform.get_deployment(name)
        if info is None or not is_own_candidate(info.custom_fields, self.scope.run):
            return False
        self._phase("release", f"deployment {name}")
        self.platform.delete_deployment(name)
        return True


class WaitEvent(TypedDict, total=False):
    """What a wait reports (docs/contracts.md#the-dag): the trigger's event."""

    status: str
    kind: str
    ref: str
    state: str
    detail: str | None
    progress: float | None
    polls: int
    elapsed_s: float


# ---------------------------------------------------------------------------------------------- deployment
@dataclass(frozen=True)
class LeaseTerms:
    """How long a claim waits for the lease, and how often it looks again."""

    timeout_s: float
    poll_s: float


class Deployment:
    """The candidate deployment of one NIM: found by its owner mark, created only under the GPU lease."""

    def __init__(
        self,
        step: ExperimentStep,
        nim: NimConfig,
        lease: GpuLease,
        terms: LeaseTerms,
        wait: Callable[[str], Wait],
        url: Callable[[str, str], str],
    ) -> None:
        self.step, self.nim, self.lease, self.terms, self.wait, self.url = step, nim, lease, terms, wait, url
        scope = step.scope
        self.claim = Claim(scope.run, scope.run_id, scope.map_index, nim.deployment_name, nim.gpus)
        self.created: str | None = None  # set once this call created it (the adapter's on_kill deletes it)

    def resource(self) -> Resource:
        return Resource(
            kind="deployment",
            find=self.find,
            observe=lambda ref: seen_deployment(self.step.platform.get_deployment(ref)),
            create=self.create,
            wait=self.wait,
            # the owner mark on the platform is the truth: a deleted deployment is created again
            stored=False,
            # a failed deployment of ours keeps its name: the wait reports the failure, the cleanup deletes it
            renew_failed=False,
        )

    def find(self, _: str) -> str | None:
        info = self.step.platform.get_deployment(self.nim.deployment_name)
        if info is None or not is_own_candidate(info.custom_fields, self.step.scope.run):
            self.step.store.delete("lease_withdrawn")
            return None
        if self.step.store.get("lease_withdrawn"):
            return None  # the deployment we withdrew is still being deleted: create() waits for it
        return self.nim.deployment_name

    def create(self, _: str) -> str | Decision:
        """Claim the lease, create, verify the claim still fits (claims checked at once may overlap)."""
        p, store = self.step.platform, self.step.store
        if store.get("lease_withdrawn") and p.get_deployment(self.nim.deployment_name) is not None:
            return self._hold(self._own_holder())
        store.delete("lease_withdrawn")
        view = self.lease.view(p, self.claim)
        if not view.admits(self.claim.gpus):
            return self._hold(view.holders[0])
        squatter = p.get_deployment(self.nim.deployment_name)
        if squatter is not None:
            return self._taken(squatter)
        fields = OwnerMark.candidate(self.step.scope.run, self.step.scope.map_index).fields()
        made = p.create_deployment(self.nim, fields)
        if not is_own_candidate(made.custom_fields, self.step.scope.run):
            return self._taken(made)  # created by someone else between our look and our create
        self.created = self.nim.deployment_name
        if self.lease.beyond_budget(p, self.claim):
            # another claim checked at the same time and ranks first: give the GPUs back and wait
            p.delete_deployment(self.nim.deployment_name)
            self.created = None
            store.set("lease_withdrawn", True)
            holders = self.lease.holders(p, self.claim)
            return self._hold(holders[0] if holders else self._own_holder())
        store.delete("lease_wait_started")
        return self.nim.deployment_name

    def _taken(self, other: DeploymentInfo) -> Wait | Fail:
        """The deployment's name is taken. By another run's candidate of the same NIM (two runs deploy it at
        once when the budget allows): wait for that run to release it, as for the lease. By anything else:
        never ours to wait for or adopt."""
        if is_candidate(other.custom_fields):
            return self._hold(self.lease.holder(other))
        return Fail(
            f"deployment {other.namespace}/{other.name} already exists and is not this run's "
            f"candidate (custom_fields {other.custom_fields}); a candidate NIM must not share its "
            "model with the judge or embedding NIM (flywheel check-config reports this)"
        )

    def _own_holder(self) -> Holder:
        ns = self.step.platform.ns
        return Holder("deployment", self.nim.deployment_name, ns, self.step.scope.run, self.nim.gpus)

    def _hold(self, holder: Holder) -> Wait | Fail:
        """Wait for the lease (a timer, then claim again), or fail once it was held too long."""
        store, now = self.step.store, self.step.clock()
        started = read_float(store, "lease_wait_started")
        if started is None:
            started = now
            store.set("lease_wait_started", started)
        waited = now - started
        if waited > self.terms.timeout_s:
            return Fail(lease_message(holder, waited, self.remedy(holder)))
        self.step._phase("create", f"waiting for the GPU lease: {holder.label()} of run {holder.owner}")
        return Wait("lease", holder.name, self.terms.poll_s, "claim")

    def remedy(self, holder: Holder) -> str:
        if holder.kind == "deployment":
            return f"curl -X DELETE {self.url('deployment', holder.name)}"
        return f"curl -X POST {self.url('customization', holder.name)}/cancel"
