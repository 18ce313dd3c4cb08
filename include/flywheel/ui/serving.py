"""A workload's serving state for the Flywheel page and ``GET /flywheel/api/serving`` (docs/loop.md#the-page).

Read from what the ``flywheel_rollout`` DAG writes: the route (the serving target's routing document) and the
rollout audit (MongoDB ``rollouts`` documents, or the same records rebuilt from the DAG's XComs). No Airflow,
no I/O here: the backend hands in the route and the rollouts, newest last.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flywheel.serving.routing import Route


class RolloutStep(BaseModel):
    """One entry of a rollout's ``steps`` (the figures vary by step and are kept as they were recorded)."""

    model_config = ConfigDict(extra="allow")

    step: str
    at: str | None = None
    weight: int | None = None
    after: str | None = None
    reason: str | None = None


class Rollout(BaseModel):
    """A rollout as the audit records it (``flywheel.rollouts`` document or its XCom equivalent)."""

    model_config = ConfigDict(extra="ignore")

    rollout_id: str
    workload_id: str
    candidate: str | None = None
    incumbent: str | None = None
    state: str | None = None  # running | rolled_back | done | failed
    steps: list[RolloutStep] = Field(default_factory=list)


class Rollback(BaseModel):
    rollout_id: str
    at: str | None
    after: str | None  # the step that fell short
    reason: str | None
    candidate: str | None
    incumbent: str | None


class ServingState(BaseModel):
    """The answer of ``GET /api/serving`` and what the page's serving panel shows."""

    workload_id: str
    target: str  # none | gateway | configmap
    incumbent: str | None = None
    candidate: str | None = None
    candidate_weight: int = 0
    step: str | None = None  # the route's step: incumbent | shadow | canary | full | rolled_back
    serving: str | None = None  # the model that serves the workload once the route is settled
    rollout_id: str | None = None
    rollout_state: str | None = None
    rollout_step: str | None = None  # the newest recorded step of the newest rollout
    last_rollback: Rollback | None = None
    error: str | None = None  # the serving target could not be read (the rest is still shown)


def last_rollback(rollouts: list[Rollout]) -> Rollback | None:
    for r in reversed(rollouts):
        for s in reversed(r.steps):
            if s.step == "rollback":
                return Rollback(
                    rollout_id=r.rollout_id,
                    at=s.at,
                    after=s.after,
                    reason=s.reason,
                    candidate=r.candidate,
                    incumbent=r.incumbent,
                )
    return None


def serving_state(
    workload_id: str, target: str, route: Route | None, rollouts: list[Rollout], error: str | None = None
) -> ServingState:
    """The state from the route (what serves now) and the workload's rollouts, oldest first."""
    mine = [r for r in rollouts if r.workload_id == workload_id]
    newest = mine[-1] if mine else None
    state = ServingState(workload_id=workload_id, target=target, last_rollback=last_rollback(mine), error=error)
    if route is not None:
        state.incumbent, state.candidate = route.incumbent, route.candidate
        state.candidate_weight, state.step, state.serving = route.candidate_weight, route.step, route.primary
    if newest is not None:
        state.rollout_id, state.rollout_state = newest.rollout_id, newest.state
        state.rollout_step = newest.steps[-1].step if newest.steps else None
        if route is None:  # never routed by this target (or unreadable): the plan still names the models
            state.incumbent, state.candidate = newest.incumbent, newest.candidate
    return state


def weight_text(state: ServingState) -> str:
    if not state.candidate:
        return f"100 % {state.incumbent}" if state.incumbent else "not routed by the flywheel"
    return f"{100 - state.candidate_weight} % {state.incumbent} · {state.candidate_weight} % {state.candidate}"
