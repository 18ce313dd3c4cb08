"""Async trigger that waits for a NeMo platform object, so no worker slot is held while NMP works.

One trigger class serves every wait (design §2): a deployment becoming ready (then its model syncing in
the NIM proxy), a deployment being gone, a customization or evaluation job finishing, a model syncing.
It polls with capped, jittered backoff, logs progress when it changes, and fires one event:
``{"status": "success" | "failed" | "timeout", "kind", "ref", "state", "detail", "progress", "polls",
"elapsed_s"}``.

Two kinds of trouble are kept apart: the platform *saying* the object failed ends the wait (``failed``);
*not being able to observe it* (unreachable, 429, 5xx after the client's own retries) does not — the
trigger keeps polling with backoff until its absolute ``end_time`` (epoch seconds, fixed by the operator
when the wait first started, so a restarted triggerer or a retried task does not restart the clock). An
outage shorter than the deadline therefore never fails a task, whatever the task retry settings.

``on_kill`` (a user marked the task or run failed / success or cleared it) cancels the NMP job, and for a
deployment wait deletes the deployment when it carries this run's candidate mark (``owner``): a failed
setup gets no teardown, so this is the only place that can release the GPU lease in that case.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

KINDS = ("deployment_ready", "deployment_gone", "customization", "evaluation", "model_sync")


class NemoWaitTrigger(BaseTrigger):
    def __init__(
        self,
        kind: str,
        ref: str,
        conn_id: str,
        namespace: str,
        poll_initial_s: float = 5.0,
        poll_max_s: float = 60.0,
        timeout_s: float = 3600.0,
        pending_timeout_s: float = 1800.0,
        model_id: str | None = None,
        sync_timeout_s: float = 1800.0,
        request_timeout_s: float = 30.0,
        max_retries: int = 5,
        settle_s: float = 0.0,  # the older relative floor; kept so triggers deferred before an upgrade load
        not_before: float = 0.0,
        end_time: float | None = None,
        owner: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown wait kind '{kind}' (one of {', '.join(KINDS)})")
        self.kind, self.ref, self.conn_id, self.namespace = kind, ref, conn_id, namespace
        self.poll_initial_s, self.poll_max_s = poll_initial_s, poll_max_s
        self.timeout_s, self.pending_timeout_s = timeout_s, pending_timeout_s
        self.model_id, self.sync_timeout_s = model_id, sync_timeout_s
        self.request_timeout_s, self.max_retries = request_timeout_s, max_retries
        self.settle_s, self.not_before = settle_s, not_before
        self.end_time, self.owner = end_time, owner

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "ref": self.ref,
                "conn_id": self.conn_id,
                "namespace": self.namespace,
                "poll_initial_s": self.poll_initial_s,
                "poll_max_s": self.poll_max_s,
                "timeout_s": self.timeout_s,
                "pending_timeout_s": self.pending_timeout_s,
                "model_id": self.model_id,
                "sync_timeout_s": self.sync_timeout_s,
                "request_timeout_s": self.request_timeout_s,
                "max_retries": self.max_retries,
                "settle_s": self.settle_s,
                "not_before": self.not_before,
                "end_time": self.end_time,
                "owner": self.owner,
            },
        )

    async def _client(self) -> Any:
        from flywheel.airflow.hooks import NemoHook

        hook = NemoHook(
            self.conn_id,
            namespace=self.namespace,
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
        )
        return await hook.aget_conn()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        polls = 0
        try:
            async with await self._client() as client:
                if self.kind == "model_sync":
                    event = await self._wait_model(client, started)
                else:
                    event = await self._wait_object(client, started)
                    if event["status"] == "success" and self.kind == "deployment_ready" and self.model_id:
                        event = await self._wait_model(client, time.monotonic())
                polls = event.get("polls", polls)
        except Exception as exc:  # surface as an event: the operator turns it into a clear task failure
            event = {"status": "failed", "state": "error", "detail": f"{type(exc).__name__}: {exc}", "polls": polls}
        # No event before not_before (epoch seconds, deferral time + NemoOperator.defer_floor_s) nor settle_s
        # after this run started: an earlier resume can be failed by Airflow (apache/airflow#72716).
        await asyncio.sleep(max(0.0, self.not_before - time.time(), self.settle_s - (time.monotonic() - started)))
        event.update(kind=self.kind, ref=self.ref, elapsed_s=round(time.monotonic() - started, 1))
        yield TriggerEvent(event)

    def _deadline(self, started: float) -> float:
        """Wall-clock deadline: the operator's absolute ``end_time``, else ``timeout_s`` from now."""
        return (
            self.end_time if self.end_time is not None else time.time() + self.timeout_s - (time.monotonic() - started)
        )

    async def _observe(self, call: Any, backoff: Any, deadline: float) -> Any:
        """``await call()``, retried with backoff while the platform cannot be observed, until ``deadline``.
        Returns None when the deadline passed without a single answer."""
        from flywheel.nemo.errors import is_unobserved

        failures = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                if not is_unobserved(exc):
                    raise
                failures += 1
                if time.time() >= deadline:
                    self.log.warning("%s %s: still cannot observe it at the deadline: %s", self.kind, self.ref, exc)
                    return None
                wait = min(backoff.next(), max(0.0, deadline - time.time()))
                if failures == 1 or failures % 10 == 0:
                    self.log.warning(
                        "%s %s: cannot observe it (%s); retrying until the deadline (%.0fs left)",
                        self.kind,
                        self.ref,
                        exc,
                        deadline - time.time(),
                    )
                await asyncio.sleep(wait)

    async def _poll(self, client: Any) -> tuple[str, bool, bool, float | None, str | None]:
        """(state, terminal, succeeded, progress, detail) of the watched object."""
        if self.kind in ("deployment_ready", "deployment_gone"):
            info = await client.get_deployment(self.ref)
            if info is None:
                gone = self.kind == "deployment_gone"
                return "deleted", True, gone, None, None if gone else "deployment no longer exists"
            if self.kind == "deployment_gone":
                if self.owner and not is_own_candidate(info.custom_fields, self.owner):
                    # ours is gone; a same-named deployment someone else made since is not ours to wait for
                    return "deleted", True, True, None, None
                return info.status, False, False, None, None
            return info.status, info.is_terminal, info.is_ready, None, info.detail if info.is_failed else None
        job = await (
            client.get_customization(self.ref) if self.kind == "customization" else client.get_evaluation(self.ref)
        )
        return job.status, job.terminal, job.succeeded, job.progress, job.detail

    def _backoff(self, seed: str) -> Any:
        from flywheel.nemo.states import Backoff

        return Backoff(initial_s=self.poll_initial_s, cap_s=self.poll_max_s, rng=random.Random(seed))

    def _timed_out(self, state: str, progress: float | None, polls: int, what: str) -> dict[str, Any]:
        return {
            "status": "timeout",
            "state": state,
            "progress": progress,
            "polls": polls,
            "detail": f"{what} not finished by its deadline ({self.timeout_s:.0f}s after it started; last '{state}')",
        }

    async def _wait_object(self, client: Any, started: float) -> dict[str, Any]:
        backoff = self._backoff(f"{self.kind}:{self.ref}")
        deadline = self._deadline(started)
        last: tuple[str, float | None] | None = None
        pending_since: float | None = None
        polls = 0
        state, progress = "unknown", None
        while True:
            seen = await self._observe(lambda: self._poll(client), backoff, deadline)
            if seen is None:
                return self._timed_out(state, progress, polls, f"{self.kind} {self.ref}")
            state, terminal, ok, progress, detail = seen
            polls += 1
            if (state, progress) != last:
                pct = f" {progress:.0f}%" if progress is not None else ""
                self.log.info("%s %s: %s%s", self.kind, self.ref, state, pct)
                last = (state, progress)
            if terminal:
                return {
                    "status": "success" if ok else "failed",
                    "state": state,
                    "detail": detail,
                    "progress": progress,
                    "polls": polls,
                }
            now = time.monotonic()
            if self.kind == "deployment_ready" and state in ("pending", "created"):
                pending_since = pending_since or now
                if now - pending_since > self.pending_timeout_s:
                    return {
                        "status": "timeout",
                        "state": state,
                        "polls": polls,
                        "detail": f"deployment {self.ref} stuck in '{state}' for more than "
                        f"{self.pending_timeout_s:.0f}s (no GPU capacity or image pull problem?)",
                    }
            else:
                pending_since = None
            if time.time() >= deadline:
                return self._timed_out(state, progress, polls, f"{self.kind} {self.ref}")
            await asyncio.sleep(min(backoff.next(), max(0.0, deadline - time.time())))

    async def _wait_model(self, client: Any, started: float) -> dict[str, Any]:
        model = self.model_id or self.ref
        backoff = self._backoff(f"sync:{model}")
        deadline = min(self._deadline(started), time.time() + self.sync_timeout_s)
        polls = 0
        while True:
            models = await self._observe(client.list_models, backoff, deadline)
            polls += 1
            if models is not None and model in models:
                self.log.info("model %s is served by the NIM proxy", model)
                return {"status": "success", "state": "synced", "polls": polls}
            if time.time() >= deadline:
                return {
                    "status": "timeout",
                    "state": "not-synced",
                    "polls": polls,
                    "detail": f"model {model} did not appear in /v1/models within {self.sync_timeout_s:.0f}s",
                }
            await asyncio.sleep(min(backoff.next(), max(0.0, deadline - time.time())))

    async def on_kill(self) -> None:
        """A user killed the task: stop the GPU work we started (the teardown deletes a ready deployment,
        but a deployment whose setup never succeeded gets no teardown, so it is deleted here)."""
        if self.kind not in ("customization", "evaluation", "deployment_ready"):
            return
        async with await self._client() as client:
            if self.kind == "customization":
                await client.cancel_customization(self.ref)
            elif self.kind == "evaluation":
                await client.cancel_evaluation(self.ref)
            else:
                info = await client.get_deployment(self.ref)
                if info is None or not self.owner or not is_own_candidate(info.custom_fields, self.owner):
                    return
                await client.delete_deployment(self.ref)
                self.log.info("deleted deployment %s (its wait was killed; releases the GPU lease)", self.ref)
                return
        self.log.info("cancelled %s job %s", self.kind, self.ref)


def is_own_candidate(custom_fields: dict[str, str], owner: str) -> bool:
    """The deployment is a flywheel candidate created by run ``owner``: the only kind a run may delete."""
    return custom_fields.get("flywheel_role") == "candidate" and custom_fields.get("flywheel_run") == owner
