"""Async trigger that waits for a NeMo platform object, so no worker slot is held while NMP works.

One trigger class serves every wait (design §2): a deployment becoming ready (then its model syncing in
the NIM proxy), a deployment being gone, a customization or evaluation job finishing, a model syncing.
It polls with capped, jittered backoff, logs progress when it changes, and fires one event:
``{"status": "success" | "failed" | "timeout", "kind", "ref", "state", "detail", "progress", "polls",
"elapsed_s"}``. ``on_kill`` (a user marked the task failed / success or cleared it) cancels the NMP job.
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
            },
        )

    async def _client(self) -> Any:
        from flywheel.airflow.connections import anemo_endpoints
        from flywheel.nemo import AsyncNemoClient

        endpoints = await anemo_endpoints(self.conn_id, self.namespace, self.request_timeout_s, self.max_retries)
        return AsyncNemoClient(endpoints)

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

    async def _poll(self, client: Any) -> tuple[str, bool, bool, float | None, str | None]:
        """(state, terminal, succeeded, progress, detail) of the watched object."""
        if self.kind in ("deployment_ready", "deployment_gone"):
            info = await client.get_deployment(self.ref)
            if info is None:
                gone = self.kind == "deployment_gone"
                return "deleted", True, gone, None, None if gone else "deployment no longer exists"
            if self.kind == "deployment_gone":
                return info.status, False, False, None, None
            return info.status, info.is_terminal, info.is_ready, None, None
        job = await (
            client.get_customization(self.ref) if self.kind == "customization" else client.get_evaluation(self.ref)
        )
        return job.status, job.terminal, job.succeeded, job.progress, job.detail

    def _backoff(self, seed: str) -> Any:
        from flywheel.nemo.states import Backoff

        return Backoff(initial_s=self.poll_initial_s, cap_s=self.poll_max_s, rng=random.Random(seed))

    async def _wait_object(self, client: Any, started: float) -> dict[str, Any]:
        backoff = self._backoff(f"{self.kind}:{self.ref}")
        last: tuple[str, float | None] | None = None
        pending_since: float | None = None
        polls = 0
        while True:
            state, terminal, ok, progress, detail = await self._poll(client)
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
            if now - started > self.timeout_s:
                return {
                    "status": "timeout",
                    "state": state,
                    "progress": progress,
                    "polls": polls,
                    "detail": f"{self.kind} {self.ref} not finished after {self.timeout_s:.0f}s (last '{state}')",
                }
            await asyncio.sleep(backoff.next())

    async def _wait_model(self, client: Any, started: float) -> dict[str, Any]:
        model = self.model_id or self.ref
        backoff = self._backoff(f"sync:{model}")
        polls = 0
        while True:
            polls += 1
            if model in await client.list_models():
                self.log.info("model %s is served by the NIM proxy", model)
                return {"status": "success", "state": "synced", "polls": polls}
            if time.monotonic() - started > self.sync_timeout_s:
                return {
                    "status": "timeout",
                    "state": "not-synced",
                    "polls": polls,
                    "detail": f"model {model} did not appear in /v1/models within {self.sync_timeout_s:.0f}s",
                }
            await asyncio.sleep(backoff.next())

    async def on_kill(self) -> None:
        """A user killed the task: stop the GPU work we started (the teardown deletes the deployment)."""
        if self.kind not in ("customization", "evaluation"):
            return
        async with await self._client() as client:
            if self.kind == "customization":
                await client.cancel_customization(self.ref)
            else:
                await client.cancel_evaluation(self.ref)
        self.log.info("cancelled %s job %s", self.kind, self.ref)
