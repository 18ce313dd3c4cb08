"""Async triggers that wait for NeMo platform objects, so no worker slot is held while NMP works.

One small trigger per resource (docs/contracts.md#the-dag), the way Airflow's providers split them:
``DeploymentReadyTrigger`` (ready, then its model served by the NIM proxy), ``DeploymentGoneTrigger``,
``NemoJobTrigger`` (a customization or evaluation job finishing) and ``ModelSyncTrigger`` (a model appearing
in ``/v1/models``). Each fires one event:
``{"status": "success" | "failed" | "timeout", "kind", "ref", "state", "detail", "progress", "polls",
"elapsed_s"}``.

A trigger carries the platform kind it was deferred with (``platform_kind``) and the connection id, never
a secret: the triggerer re-reads the key from the Connection and opens the same backend through the
registry (:mod:`flywheel.platforms.registry`).

Their shared base keeps two kinds of trouble apart: the platform *saying* the object failed ends the wait
(``failed``); *not being able to observe it* (unreachable, 429, 5xx after the client's own retries) does
not — the trigger keeps polling with capped, jittered backoff until its absolute ``end_time`` (epoch
seconds, fixed by the operator when the wait first started, so a restarted triggerer or a retried task does
not restart the clock). An outage shorter than the deadline therefore never fails a task.

``check_once`` is the same observation done once, with the task's sync client: an operator about to defer
asks it first and continues inline when the wait is already over (a deferral round trip costs seconds).

``on_kill`` (a user marked the task or run failed / success or cleared it) cancels the NMP job, and for a
deployment wait deletes the deployment when it carries this run's candidate mark (``owner``): a failed
setup gets no teardown, so this is the only place that can release the GPU lease in that case.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from flywheel.airflow.hooks import NemoHook
from flywheel.platforms.core.errors import is_unobserved
from flywheel.platforms.core.retry import Backoff
from flywheel.platforms.marks import is_own_candidate
from flywheel.run.experiment import Seen, WaitEvent, seen_deployment, seen_job, seen_model

JOB_TYPES = ("customization", "evaluation")


async def _answer(value: Any) -> Any:
    """The value of a client call, sync (tasks) or async (triggers): one observation code path for both."""
    return await value if inspect.isawaitable(value) else value


class PlatformWaitTrigger(BaseTrigger):
    """Base of the NeMo waits: connection, polling with backoff through outages, the absolute deadline."""

    kind: ClassVar[str] = "platform"

    def __init__(
        self,
        ref: str,
        conn_id: str,
        namespace: str,
        end_time: float,
        poll_initial_s: float = 5.0,
        poll_max_s: float = 60.0,
        request_timeout_s: float = 30.0,
        max_retries: int = 5,
        not_before: float = 0.0,
        *,
        platform_kind: str | None = None,
    ) -> None:
        super().__init__()
        # the backend travels with the trigger: the triggerer has no config to read it from. None only for a
        # trigger deferred by a version that did not serialize it (then the hook reads the configured kind)
        self.platform_kind = platform_kind
        self.ref, self.conn_id, self.namespace, self.end_time = ref, conn_id, namespace, float(end_time)
        self.poll_initial_s, self.poll_max_s = poll_initial_s, poll_max_s
        self.request_timeout_s, self.max_retries, self.not_before = request_timeout_s, max_retries, not_before

    # ------------------------------------------------------------------ what a subclass provides
    def own_params(self) -> dict[str, object]:
        """The subclass's own constructor arguments (for ``serialize``)."""
        return {}

    async def observe(self, client: Any) -> Seen:
        """One look at the watched object (``client`` is the sync or the async platform client)."""
        raise NotImplementedError

    def stuck(self, seen: Seen, since: dict[str, float]) -> str | None:
        """A reason to give up before the deadline although the object is not terminal (default: none)."""
        return None

    async def after_success(self, client: Any, event: WaitEvent, once: bool = False) -> WaitEvent | None:
        """A second phase after the object succeeded (default: none). ``once``: look once, without waiting,
        and return None when that phase is not over yet."""
        return event

    # ------------------------------------------------------------------ shared machinery
    def serialize(self) -> tuple[str, dict[str, object]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ref": self.ref,
                "conn_id": self.conn_id,
                "namespace": self.namespace,
                "end_time": self.end_time,
                "poll_initial_s": self.poll_initial_s,
                "poll_max_s": self.poll_max_s,
                "request_timeout_s": self.request_timeout_s,
                "max_retries": self.max_retries,
                "not_before": self.not_before,
                "platform_kind": self.platform_kind,
                **self.own_params(),
            },
        )

    def label(self) -> str:
        return f"{self.kind} {self.ref}"

    async def _client(self) -> Any:
        hook = NemoHook(
            self.conn_id,
            namespace=self.namespace,
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
            platform_kind=self.platform_kind,
        )
        return await hook.aget_conn()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        try:
            async with await self._client() as client:
                event = await self._wait(client, self.observe, self.end_time)
                if event["status"] == "success":
                    event = await self.after_success(client, event) or event
        except Exception as exc:  # surface as an event: the operator turns it into a clear task failure
            event = WaitEvent(status="failed", state="error", detail=f"{type(exc).__name__}: {exc}", polls=0)
        # No event before not_before (epoch seconds, deferral time + NemoOperator.defer_floor_s): an
        # earlier resume can be failed by Airflow (apache/airflow#72716).
        await asyncio.sleep(max(0.0, self.not_before - time.time()))
        event["kind"], event["ref"], event["elapsed_s"] = self.kind, self.ref, round(time.monotonic() - started, 1)
        yield TriggerEvent(event)

    async def check_once(self, client: Any) -> WaitEvent | None:
        """The wait's event if it is already over (one observation, no waiting), else None. An outage is
        not an answer: None, and the deferred wait deals with it."""
        try:
            seen = await self.observe(client)
            if not seen.terminal:
                return None
            event = self._event(seen, 1)
            if event["status"] == "success":
                done = await self.after_success(client, event, once=True)
                if done is None:
                    return None
                event = done
        except Exception as exc:
            if is_unobserved(exc):
                return None
            # as in run(): an answer we cannot use ends the wait as failed, so the operator records it
            event = WaitEvent(status="failed", state="error", detail=f"{type(exc).__name__}: {exc}", polls=1)
        event["kind"], event["ref"], event["elapsed_s"] = self.kind, self.ref, 0.0
        return event

    def _event(self, seen: Seen, polls: int) -> WaitEvent:
        return WaitEvent(
            status="success" if seen.succeeded else "failed",
            state=seen.state,
            detail=seen.detail,
            progress=seen.progress,
            polls=polls,
        )

    def _backoff(self, seed: str) -> Any:
        return Backoff(initial_s=self.poll_initial_s, cap_s=self.poll_max_s, rng=random.Random(seed))

    async def _observed(self, call: Callable[[], Awaitable[Seen]], backoff: Any, deadline: float) -> Seen | None:
        """``await call()``, retried with backoff while the platform cannot be observed, until ``deadline``.
        Returns None when the deadline passed without a single answer."""
        failures = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                if not is_unobserved(exc):
                    raise
                failures += 1
                if time.time() >= deadline:
                    self.log.warning("%s: still cannot observe it at the deadline: %s", self.label(), exc)
                    return None
                if failures == 1 or failures % 10 == 0:
                    self.log.warning(
                        "%s: cannot observe it (%s); retrying until the deadline (%.0fs left)",
                        self.label(),
                        exc,
                        deadline - time.time(),
                    )
                await asyncio.sleep(min(backoff.next(), max(0.0, deadline - time.time())))

    async def _wait(
        self, client: Any, observe: Callable[[Any], Awaitable[Seen]], deadline: float, what: str | None = None
    ) -> WaitEvent:
        """Poll ``observe`` until the object is terminal, something is stuck, or the absolute deadline."""
        what = what or self.label()
        backoff = self._backoff(what)
        last: tuple[str, float | None] | None = None
        since: dict[str, float] = {}
        polls = 0
        seen = Seen("unknown")
        while True:
            answer = await self._observed(lambda: observe(client), backoff, deadline)
            if answer is not None:
                seen, polls = answer, polls + 1
                if (seen.state, seen.progress) != last:
                    pct = f" {seen.progress:.0f}%" if seen.progress is not None else ""
                    self.log.info("%s: %s%s", what, seen.state, pct)
                    last = (seen.state, seen.progress)
                if seen.terminal:
                    return self._event(seen, polls)
                reason = self.stuck(seen, since)
                if reason:
                    return WaitEvent(status="timeout", state=seen.state, polls=polls, detail=reason)
            if answer is None or time.time() >= deadline:
                return WaitEvent(
                    status="timeout",
                    state=seen.state,
                    progress=seen.progress,
                    polls=polls,
                    detail=f"{what} not finished by its deadline (last '{seen.state}')",
                )
            await asyncio.sleep(min(backoff.next(), max(0.0, deadline - time.time())))


async def _model_served(client: Any, model_id: str) -> Seen:
    return seen_model(await _answer(client.list_models()), model_id)


class ModelSyncTrigger(PlatformWaitTrigger):
    """A model (``ref``) appearing in the NIM proxy's ``/v1/models``."""

    kind = "model_sync"

    async def observe(self, client: Any) -> Seen:
        return await _model_served(client, self.ref)

    def label(self) -> str:
        return f"model {self.ref} in /v1/models"


class DeploymentReadyTrigger(PlatformWaitTrigger):
    """A deployment becoming ready, then (``model_id``) its model being served by the NIM proxy."""

    kind = "deployment_ready"

    def __init__(
        self,
        *,
        pending_timeout_s: float = 1800.0,
        model_id: str | None = None,
        sync_timeout_s: float = 1800.0,
        owner: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pending_timeout_s, self.model_id, self.sync_timeout_s, self.owner = (
            pending_timeout_s,
            model_id,
            sync_timeout_s,
            owner,
        )

    def own_params(self) -> dict[str, object]:
        return {
            "pending_timeout_s": self.pending_timeout_s,
            "model_id": self.model_id,
            "sync_timeout_s": self.sync_timeout_s,
            "owner": self.owner,
        }

    async def observe(self, client: Any) -> Seen:
        return seen_deployment(await _answer(client.get_deployment(self.ref)))

    def stuck(self, seen: Seen, since: dict[str, float]) -> str | None:
        if seen.state not in ("pending", "created"):
            since.pop("pending", None)
            return None
        first = since.setdefault("pending", time.monotonic())
        if time.monotonic() - first <= self.pending_timeout_s:
            return None
        return (
            f"deployment {self.ref} stuck in '{seen.state}' for more than {self.pending_timeout_s:.0f}s "
            "(no GPU capacity or image pull problem?)"
        )

    async def after_success(self, client: Any, event: WaitEvent, once: bool = False) -> WaitEvent | None:
        if not self.model_id:
            return event
        model = self.model_id
        if once:
            return event if (await _model_served(client, model)).succeeded else None
        deadline = min(self.end_time, time.time() + self.sync_timeout_s)
        synced = await self._wait(client, lambda c: _model_served(c, model), deadline, f"model {model} in /v1/models")
        if synced["status"] == "success":
            self.log.info("model %s is served by the NIM proxy", model)
        return {**synced, "polls": event.get("polls", 0) + synced.get("polls", 0)}

    async def on_kill(self) -> None:
        """A user killed the task: a deployment whose setup never succeeded gets no teardown, so this run's
        candidate is deleted here (releases the GPU lease)."""
        if not self.owner:
            return
        async with await self._client() as client:
            info = await client.get_deployment(self.ref)
            if info is None or not is_own_candidate(info.custom_fields, self.owner):
                return
            await client.delete_deployment(self.ref)
        self.log.info("deleted deployment %s (its wait was killed; releases the GPU lease)", self.ref)


class DeploymentGoneTrigger(PlatformWaitTrigger):
    """A deployment this run deleted being gone (a same-named deployment someone else made since is not
    ours to wait for)."""

    kind = "deployment_gone"

    def __init__(self, *, owner: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def own_params(self) -> dict[str, object]:
        return {"owner": self.owner}

    async def observe(self, client: Any) -> Seen:
        info = await _answer(client.get_deployment(self.ref))
        if info is None or (self.owner and not is_own_candidate(info.custom_fields, self.owner)):
            return Seen("deleted", True, True)
        return Seen(info.status)


class NemoJobTrigger(PlatformWaitTrigger):
    """A customization or evaluation job reaching a terminal state; killing the wait cancels the job."""

    def __init__(self, *, job_type: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if job_type not in JOB_TYPES:
            raise ValueError(f"unknown job type '{job_type}' (one of {', '.join(JOB_TYPES)})")
        self.job_type = job_type

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.job_type

    def own_params(self) -> dict[str, object]:
        return {"job_type": self.job_type}

    async def observe(self, client: Any) -> Seen:
        read = client.get_customization if self.job_type == "customization" else client.get_evaluation
        return seen_job(await _answer(read(self.ref)))

    async def on_kill(self) -> None:
        async with await self._client() as client:
            if self.job_type == "customization":
                await client.cancel_customization(self.ref)
            else:
                await client.cancel_evaluation(self.ref)
        self.log.info("cancelled %s job %s", self.job_type, self.ref)
