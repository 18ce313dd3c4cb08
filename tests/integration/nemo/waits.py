"""Blocking waits on an NMP client, for tests that drive the client directly (the product waits through
deferrable triggers; these lived on ``NemoClient`` while only tests called them). Each polls with the
shared :class:`Backoff` until its own deadline, and raises the client's typed errors."""

from __future__ import annotations

import time

from flywheel.platforms.core.errors import NemoDeploymentError, NemoJobError
from flywheel.platforms.core.retry import Backoff
from flywheel.platforms.core.states import DeploymentInfo, JobState, PendingWatch
from flywheel.platforms.nmp.client import NemoClient


def wait_deployment_ready(
    c: NemoClient,
    name: str,
    *,
    timeout_s: float = 3600.0,
    pending_limit_s: float = 1800.0,
    backoff: Backoff | None = None,
) -> DeploymentInfo:
    """Poll until ready. A failed deployment raises at once; one pending too long raises with a message."""
    backoff = backoff or Backoff()
    watch = PendingWatch(pending_limit_s)
    deadline = time.monotonic() + timeout_s
    while True:
        info = c.get_deployment(name)
        if info is None:
            raise NemoDeploymentError(f"deployment {c.ns}/{name} does not exist (deleted while waiting?)")
        if info.is_ready:
            return info
        if info.is_failed:
            why = f": {info.detail}" if info.detail else ""
            raise NemoDeploymentError(f"deployment {c.ns}/{name} {info.status}{why}")
        watch.observe(info)
        if time.monotonic() > deadline:
            raise NemoDeploymentError(
                f"deployment {c.ns}/{name} not ready after {timeout_s:.0f}s (last status '{info.status}')"
            )
        time.sleep(backoff.next())


def wait_model_served(
    c: NemoClient, model_id: str, *, timeout_s: float = 1800.0, backoff: Backoff | None = None
) -> None:
    """Poll ``/v1/models`` until ``model_id`` is listed (a LoRA adapter syncing, a NIM registering)."""
    backoff = backoff or Backoff()
    deadline = time.monotonic() + timeout_s
    while model_id not in c.list_models():
        if time.monotonic() > deadline:
            raise NemoJobError(f"model {model_id} not served by the NIM proxy after {timeout_s:.0f}s")
        time.sleep(backoff.next())


def wait_job(c: NemoClient, kind: str, job_id: str, *, timeout_s: float, backoff: Backoff | None = None) -> JobState:
    """Poll a ``customization`` or ``evaluation`` job to a terminal state; failure raises with its detail."""
    get = {"customization": c.get_customization, "evaluation": c.get_evaluation}.get(kind)
    if get is None:
        raise ValueError(f"unknown job kind {kind!r}")
    backoff = backoff or Backoff()
    deadline = time.monotonic() + timeout_s
    while True:
        state = get(job_id)
        if state.terminal:
            if not state.succeeded:
                raise NemoJobError(f"{kind} {job_id} {state.status}: {state.detail or 'no detail'}")
            return state
        if time.monotonic() > deadline:
            raise NemoJobError(f"{kind} {job_id} not finished after {timeout_s:.0f}s (last '{state.status}')")
        time.sleep(backoff.next())
