"""Every answer to a human-in-the-loop request (``PATCH …/taskInstances/{task}/{map}/hitlDetails``, what the
UI's buttons send) is applied exactly once or refused with a clear status.

Airflow's route alone is not enough (docs/approvals.md):

- **Two answers at once.** It checks "already answered" under a row lock, and SQLite (the demo's database)
  has none: both answers got 200 and the later one replaced the first. Here answers to one task instance
  are serialized by a file lock (SQLite is one host) and the second is refused with 409.
- **An answer right after the pause.** Airflow resumes the task in the same request; if the scheduler then
  handles the executor's report of the execution that paused only after the resumed try was queued,
  Airflow 3.3 fails the task (apache/airflow#72716, a failed task without a log line). An answer is
  therefore held until the pause is ``[workers] min_heartbeat_interval`` + ``platform.min_defer_s`` +
  ``ANSWER_MARGIN_S`` old (the NeMo waits' defer floor plus a margin), and one sent before the task paused
  is held until it pauses.
- **An answer to a closed request.** Once the run or the task is no longer waiting (marked failed,
  superseded, expired) the route would still store the answer and say 200; here it is a 409.

Unauthenticated requests and requests for unknown task instances go to Airflow untouched (its 401/404).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flywheel.config import load_config

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = (
    "/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/(?P<run_id>[^/]+)/taskInstances/(?P<task_id>[^/]+)/"
    "(?P<map_index>-?[0-9]+)/hitlDetails/?$"
)
WAITING = ("deferred", "awaiting_input")
BEFORE_PAUSE = ("scheduled", "queued", "running")
PAUSE_WAIT_S = 60.0  # an answer sent before the task paused waits this long for the pause
LOCK_WAIT_S = 120.0
COMMIT_WAIT_S = 15.0


@dataclass(frozen=True)
class Seen:
    """What the database says about one HITL request."""

    exists: bool
    ti_state: str | None = None
    resumed: bool = False  # the task left its pause (next_method set) without an answer: being closed
    run_state: str | None = None
    answered_by: str | None = None
    paused_at: datetime | None = None


def read(dag_id: str, run_id: str, task_id: str, map_index: int) -> Seen:
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(
            select(TI).where(TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id, TI.map_index == map_index)
        )
        hitl = session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id)) if ti is not None else None
        if ti is None or hitl is None:
            return Seen(exists=False)
        run_state = session.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        who = None
        if hitl.responded_at is not None:
            user = hitl.responded_by or {}
            who = f"{user.get('name') or user.get('id') or 'flywheel'} at {hitl.responded_at.isoformat()}"
        stamps = [t for t in (hitl.created_at, getattr(ti, "updated_at", None)) if t is not None]
        return Seen(
            exists=True,
            ti_state=str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state else None,
            resumed=ti.next_method is not None,
            run_state=str(getattr(run_state, "value", run_state)) if run_state else None,
            answered_by=who,
            paused_at=max(stamps) if stamps else None,
        )


def settle_s() -> float:
    """How old a pause must be before an answer may resume the task."""
    from airflow.configuration import conf

    try:
        extra = load_config(None).platform.min_defer_s
    except Exception:  # the api-server may run without the flywheel config: its default
        extra = 2.0
    from flywheel.airflow.approval_wait import ANSWER_MARGIN_S

    return conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0) + extra + ANSWER_MARGIN_S


def verdict(seen: Seen, now: float, settle: float) -> tuple[str, Any]:
    """``("pass", None)``, ``("wait", seconds)`` or ``("refuse", message)`` for an answer now."""
    if not seen.exists:
        return "pass", None  # Airflow's own 404
    if seen.answered_by:
        return "refuse", f"already answered by {seen.answered_by}: this answer was not applied"
    if seen.run_state not in ("running", "queued"):
        return "refuse", f"the run is {seen.run_state}: the request is closed, this answer was not applied"
    if seen.ti_state in WAITING:
        left = (seen.paused_at.timestamp() + settle - now) if seen.paused_at else 0.0
        return ("wait", left) if left > 0 else ("pass", None)
    if seen.ti_state in BEFORE_PAUSE and not seen.resumed:
        return "wait", 0.5  # the question is written, the task is about to pause
    return "refuse", f"the task is {seen.ti_state}: the request is closed, this answer was not applied"


def _lock_path(*key: Any) -> Path:
    d = Path(os.environ.get("FLYWHEEL_ANSWER_LOCKS", Path(tempfile.gettempdir()) / "flywheel-answer-locks"))
    d.mkdir(parents=True, exist_ok=True)
    return d / (hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32] + ".lock")


def _acquire(path: Path, deadline: float) -> int | None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def _release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AnswerOnce:
    """Pure ASGI middleware in front of Airflow's hitlDetails PATCH route."""

    def __init__(self, app: ASGIApp) -> None:

        self.app = app
        self.path = re.compile(PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.path.search(scope.get("path", "")) if scope["type"] == "http" else None
        headers = dict(scope.get("headers") or []) if match else {}
        if not match or scope.get("method") != "PATCH" or not (b"authorization" in headers or b"cookie" in headers):
            await self.app(scope, receive, send)
            return
        import anyio.to_thread

        key = (match["dag_id"], match["run_id"], match["task_id"], int(match["map_index"]))
        fd = await anyio.to_thread.run_sync(_acquire, _lock_path(*key), time.monotonic() + LOCK_WAIT_S)
        if fd is None:
            await _reply(send, 503, "another answer to this request is being applied; try again")
            return
        try:
            await self._answer(scope, receive, send, key)
        finally:
            _release(fd)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, key: tuple[Any, ...]) -> None:
        import anyio.to_thread

        settle = await anyio.to_thread.run_sync(settle_s)
        give_up = time.monotonic() + PAUSE_WAIT_S + settle
        while True:
            seen = await anyio.to_thread.run_sync(read, *key)
            action, arg = verdict(seen, time.time(), settle)
            if action == "refuse":
                await _reply(send, 409, arg)
                return
            if action == "pass":
                break
            if time.monotonic() > give_up:
                await _reply(send, 409, f"the task is {seen.ti_state}, not waiting for an answer; try again")
                return
            await asyncio.sleep(min(arg, 1.0))
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] == 200:
            # hold the lock until the answer is visible to the next reader (committed)
            deadline = time.monotonic() + COMMIT_WAIT_S
            while time.monotonic() < deadline:
                if (await anyio.to_thread.run_sync(read, *key)).answered_by:
                    return
                await asyncio.sleep(0.1)
