"""How ``approve_promotion`` waits: deferred on :class:`ApprovalWaitTrigger`, which ends the wait when a
person's answer is recorded, when a newer report of the same workload supersedes this one, or at
``selection.approval_timeout``.

Airflow 3.3's own HITL wait (``awaiting_input``) runs no code while it waits, so nothing could close an
approval that a newer report made stale; a trigger can. An answer through the UI or ``PATCH …/hitlDetails``
still resumes the task at once (Airflow's route resumes a deferred HITL task itself); the trigger's own
check of the answer covers one recorded while the task was not yet deferred.

"Newer" is decided from one Airflow Variable per workload, ``flywheel.latest_report.<workload_id>``:
``{"dag_id", "run_id", "run_after"}`` of the newest run (by ``run_after``, then run id) whose report reached
the decision. Each ``approve_promotion`` writes it before it waits (only if its run is the newest).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from uuid import UUID

from airflow.triggers.base import BaseTrigger, TriggerEvent
from pydantic import ValidationError

from flywheel.run.models import RunRef

VARIABLE_PREFIX = "flywheel.latest_report."
# On top of the defer floor (min_heartbeat_interval + platform.min_defer_s): the executor's report of the
# execution that paused came 1.5 s after the pause at load 12 on 2 cores; a person does not mind 3 s more.
ANSWER_MARGIN_S = 3.0
SUPERSEDED_BY = "superseded by the newer report of run "
# An event the trigger fires: the HITL answer ``execute_complete`` expects, a supersession or a timeout (open:
# Airflow's HITL event carries its own keys).
Event = dict[str, object]
STALE: Event = {"stale": True}


def variable_key(workload_id: str) -> str:
    return f"{VARIABLE_PREFIX}{workload_id}"


def newer_than(latest: RunRef | None, mine: RunRef) -> bool:
    """``latest`` is another run of the same workload, newer than ``mine``."""
    return latest is not None and latest.newer_than(mine)


def read_latest(workload_id: str) -> RunRef | None:
    from airflow.sdk import Variable

    raw = Variable.get(variable_key(workload_id), default=None)
    if not raw:
        return None
    try:
        return RunRef.model_validate_json(raw)
    except ValidationError:
        return None


def claim_latest(workload_id: str, mine: RunRef) -> RunRef:
    """Record ``mine`` as the workload's newest report unless a newer one is recorded; the newest."""
    from airflow.sdk import Variable

    latest = read_latest(workload_id)
    if latest is not None and (latest.run_id == mine.run_id or newer_than(latest, mine)):
        return latest
    Variable.set(
        variable_key(workload_id), json.dumps(mine.to_json()), description="flywheel: newest report per workload"
    )
    return mine


class ApprovalWaitTrigger(BaseTrigger):
    """Fires one event: a person's answer (the HITL event ``execute_complete`` expects), ``{"superseded_by":
    run_id}``, or ``{"error_type": "timeout", ...}``; never before ``not_before`` (epoch seconds)."""

    def __init__(
        self,
        *,
        ti_id: str,
        workload_id: str,
        mine: RunRef | Mapping[str, object],
        deadline: float | None,
        not_before: float,
        poke_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.ti_id, self.workload_id = ti_id, workload_id
        self.mine = mine if isinstance(mine, RunRef) else RunRef.model_validate(mine)
        self.deadline, self.not_before, self.poke_s = deadline, not_before, poke_s

    def serialize(self) -> tuple[str, dict[str, object]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ti_id": self.ti_id,
                "workload_id": self.workload_id,
                "mine": self.mine.to_json(),
                "deadline": self.deadline,
                "not_before": self.not_before,
                "poke_s": self.poke_s,
            },
        )

    def _answer(self) -> Event | None:

        from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail

        resp = get_hitl_detail_content_detail(ti_id=UUID(self.ti_id))
        if not (resp.response_received and resp.chosen_options):
            return None
        user = resp.responded_by_user
        comment = str((resp.params_input or {}).get("comment") or "")
        if user is None and comment.startswith(SUPERSEDED_BY):  # closed by an earlier run of this trigger
            return {"superseded_by": comment.removeprefix(SUPERSEDED_BY)}
        return {
            "chosen_options": list(resp.chosen_options),
            "params_input": resp.params_input or {},
            "responded_at": resp.responded_at,
            "responded_by_user": {"id": user.id, "name": user.name} if user else None,
            "timedout": False,
        }

    def _close(self, newer_run: str) -> Event:
        """Close the HITL request as superseded (the *Reject* option with the reason as comment; only the
        triggerer may write it), so the UI stops offering it. When a person's answer was recorded first,
        Airflow refuses the write (409) and their answer is the event."""

        from airflow.sdk.execution_time.hitl import update_hitl_detail_response

        from flywheel.airflow.approval import REJECT

        comment = f"{SUPERSEDED_BY}{newer_run}"
        try:
            update_hitl_detail_response(
                ti_id=UUID(self.ti_id), chosen_options=[REJECT], params_input={"comment": comment}
            )
        except Exception:
            answer = self._answer()
            if answer is not None:
                return answer
            self.log.warning("could not close the approval request as superseded", exc_info=True)
        return {"superseded_by": newer_run}

    def _check(self) -> Event | None:
        try:
            answer = self._answer()
        except Exception as exc:
            if "404" in str(exc) or "not_found" in str(exc):
                return STALE
            raise
        if answer is not None:
            return answer
        latest = read_latest(self.workload_id)
        if latest is not None and newer_than(latest, self.mine):
            return self._close(latest.run_id)
        if self.deadline is not None and time.time() >= self.deadline:
            return {"error": "no answer before selection.approval_timeout", "error_type": "timeout"}
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        while True:
            wait = self.not_before - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            event = await sync_to_async(self._check)()
            if event is STALE:
                # This instance outlived its try: its task instance has a new id (cleared) and SQLite reused
                # this trigger's id for the new try's trigger, so the triggerer kept this old instance. It
                # must not resume the new try with an old answer, deadline or verdict: it waits until the
                # triggerer cancels it; answers through the API still resume the new try.
                self.log.warning("approval request %s is gone (the task was cleared): this wait is stale", self.ti_id)
                while True:
                    await asyncio.sleep(3600)
            if event is not None:
                yield TriggerEvent(event)
                return
            pause = self.poke_s
            if self.deadline is not None:
                pause = max(0.0, min(pause, self.deadline - time.time()))
            await asyncio.sleep(pause)
