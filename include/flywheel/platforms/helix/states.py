"""Helix job and deployment states, mapped onto the flywheel's own (``flywheel.nemo.states``) so that
watchers and the report need no Helix knowledge.

Jobs: ``created pending active cancelling cancelled error completed paused pausing resuming``
(``active``/``paused``/``pausing``/``resuming`` count as running, ``error`` as failed).
Deployments: ``CREATED → PENDING → READY | ERROR`` (+ ``DELETING DELETED LOST UNKNOWN``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flywheel.nemo.errors import NemoResponseError
from flywheel.nemo.states import DeploymentInfo, JobState
from flywheel.platforms.marks import read_marks

JOB_STATUS = {
    "created": "created",
    "pending": "pending",
    "active": "running",
    "paused": "running",
    "pausing": "running",
    "resuming": "running",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "completed",
}
# the last exception a task raised, in the tail of its ``error_stack`` (e.g. ``pkg.mod.EvaluationError: ...``)
_RAISED = re.compile(r"(?<![\w.])(?:[a-z_]\w*\.)*([A-Z]\w*(?:Error|Exception)): ")
JOB_ACTIVE = frozenset({"created", "pending", "active", "paused", "pausing", "resuming", "cancelling"})
DEPLOYMENT_STATUS = {
    "UNKNOWN": "unknown",
    "CREATED": "created",
    "PENDING": "pending",
    "READY": "ready",
    "ERROR": "failed",
    "LOST": "failed",
    "DELETING": "cancelling",
    "DELETED": "completed",  # shut down: will never become ready
}


def job_state(raw: Mapping[str, Any], kind: str) -> JobState:
    """From a Helix job (or its ``/status``): ``status`` + ``status_details.message``/``error_details``."""
    helix = raw.get("status") if isinstance(raw, Mapping) else None
    if not isinstance(helix, str) or not helix:
        raise NemoResponseError(f"{kind} job without a status")
    status = JOB_STATUS.get(helix.lower(), "unknown")
    terminal, ok = JobState.classify(kind, status)
    details = got if isinstance(got := raw.get("status_details"), Mapping) else {}
    errors = got if isinstance(got := raw.get("error_details"), Mapping) else {}
    message = errors.get("message") or details.get("message") or details.get("error")
    detail = str(message) if message else (f"{kind} {helix}" if terminal and not ok else None)
    raised = task_error(raw) if terminal and not ok else None
    if raised and detail and raised not in detail:  # Helix's own message is only "Job exited with code 1"
        detail = f"{detail}: {raised}"
    progress = 100.0 if ok else None
    return JobState(status, terminal, ok, progress, detail, dict(raw))


def task_error(raw: Mapping[str, Any]) -> str | None:
    """The exception that ended a failed job, from the ``error_stack`` of its tasks in a ``/status``."""
    for step in raw.get("steps") or []:
        for task in (step.get("tasks") if isinstance(step, Mapping) else None) or []:
            stack = task.get("error_stack") if isinstance(task, Mapping) else None
            if not isinstance(stack, str):
                continue
            found = list(_RAISED.finditer(stack))
            if found:
                text = stack[found[-1].end() :].strip().rstrip('\\"}').strip()
                raised = str(found[-1][1])
                return f"{raised}: {text}" if text else raised
    return None


def deployment_info(raw: Mapping[str, Any], config: Mapping[str, Any] | None) -> DeploymentInfo:
    """A Helix deployment as the flywheel sees it; our marks live in its config's description."""
    if not isinstance(raw, Mapping) or not raw.get("name") or not raw.get("workspace"):
        raise NemoResponseError("Helix deployment without name/workspace")
    status = DEPLOYMENT_STATUS.get(str(raw.get("status") or "UNKNOWN").upper(), "unknown")
    marks = read_marks((config or {}).get("description")) or {}
    return DeploymentInfo(str(raw["name"]), str(raw["workspace"]), status, marks, dict(raw))
