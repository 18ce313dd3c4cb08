"""Status machines of NeMo objects, read from platform responses, plus polling helpers.

Terminal sets are explicit per kind. ``created``/``pending``/``running``/``cancelling`` keep polling;
a status we do not know keeps polling too but is logged once (the reference crashed on one, §16.4).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.nemo.errors import NemoDeploymentError, NemoResponseError

log = logging.getLogger("flywheel.nemo")

DEPLOYMENT_SUCCEEDED = frozenset({"ready"})
# "completed" for a deployment means it was shut down: it will never become ready
DEPLOYMENT_FAILED = frozenset({"failed", "error", "cancelled", "completed"})
DEPLOYMENT_ACTIVE = frozenset({"created", "pending", "running", "cancelling", "unknown"})
DEPLOYMENT_PENDING = frozenset({"created", "pending"})

JOB_SUCCEEDED = frozenset({"completed"})
JOB_FAILED = frozenset({"failed", "error", "cancelled"})
JOB_ACTIVE = frozenset({"created", "pending", "running", "cancelling", "ready", "unknown"})

_seen_unknown: set[tuple[str, str]] = set()


def _note_unknown(kind: str, status: str) -> None:
    if (kind, status) not in _seen_unknown:
        _seen_unknown.add((kind, status))
        log.warning("%s reported unknown status %r; treating it as not finished", kind, status)


def _status(raw: Any, *paths: tuple[str, ...]) -> str:
    for path in paths:
        value: Any = raw
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value.strip().lower()
    raise NemoResponseError(f"no status in response (keys: {sorted(raw)[:8] if isinstance(raw, Mapping) else raw!r})")


def _progress(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(p) else min(max(p, 0.0), 100.0)


@dataclass(frozen=True)
class JobState:
    status: str
    terminal: bool
    succeeded: bool
    progress: float | None
    detail: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.status, self.progress, self.detail))

    @staticmethod
    def classify(kind: str, status: str) -> tuple[bool, bool]:
        """(terminal, succeeded) for a customization/evaluation status."""
        if status in JOB_SUCCEEDED:
            return True, True
        if status in JOB_FAILED:
            return True, False
        if status not in JOB_ACTIVE:
            _note_unknown(kind, status)
        return False, False

    @classmethod
    def from_customization(cls, raw: dict[str, Any]) -> JobState:
        """From ``GET /v1/customization/jobs/{id}/status`` (or the job itself, with ``status_details``)."""
        details = got if isinstance(got := raw.get("status_details"), Mapping) else raw
        status = _status(raw, ("status",), ("status_details", "status"))
        terminal, ok = cls.classify("customization", status)
        logs = details.get("status_logs") or raw.get("status_logs") or []
        detail = None
        if status in JOB_FAILED:
            detail = _last_log(logs, "detail") or _last_log(logs, "message") or f"customization {status}"
        elif logs:
            detail = _last_log(logs, "message")
        progress = 100.0 if ok else _progress(details.get("percentage_done"))
        return cls(status, terminal, ok, progress, detail, raw)

    @classmethod
    def from_evaluation(cls, raw: dict[str, Any]) -> JobState:
        """From ``GET /v1/evaluation/jobs/{id}``: ``status`` and ``status_details.{progress,message}``."""
        status = _status(raw, ("status",), ("status_details", "status"))
        terminal, ok = cls.classify("evaluation", status)
        details = got if isinstance(got := raw.get("status_details"), Mapping) else {}
        message = details.get("message") or raw.get("error")
        detail = str(message) if message else (f"evaluation {status}" if terminal and not ok else None)
        progress = 100.0 if ok else _progress(details.get("progress"))
        return cls(status, terminal, ok, progress, detail, raw)


def _last_log(logs: Any, key: str) -> str | None:
    if not isinstance(logs, list):
        return None
    for entry in reversed(logs):
        if isinstance(entry, Mapping) and entry.get(key):
            return str(entry[key])
    return None


@dataclass(frozen=True)
class DeploymentInfo:
    name: str
    namespace: str
    status: str
    custom_fields: dict[str, str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.namespace, self.name, self.status))

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> DeploymentInfo:
        """From a DMS model-deployment object (status in ``status_details.status``)."""
        if not isinstance(raw, Mapping):
            raise NemoResponseError(f"deployment is not an object: {raw!r}"[:200])
        status = _status(raw, ("status_details", "status"), ("status",))
        config = got if isinstance(got := raw.get("config"), Mapping) else {}
        name = raw.get("name") or config.get("name")
        namespace = raw.get("namespace") or config.get("namespace")
        if not name or not namespace:
            raise NemoResponseError("deployment without name/namespace")
        if status not in DEPLOYMENT_SUCCEEDED | DEPLOYMENT_FAILED | DEPLOYMENT_ACTIVE:
            _note_unknown("deployment", status)
        fields = got if isinstance(got := raw.get("custom_fields"), Mapping) else {}
        return cls(str(name), str(namespace), status, {str(k): str(v) for k, v in fields.items()}, dict(raw))

    @property
    def is_ready(self) -> bool:
        return self.status in DEPLOYMENT_SUCCEEDED

    @property
    def is_failed(self) -> bool:
        return self.status in DEPLOYMENT_FAILED

    @property
    def is_terminal(self) -> bool:
        return self.is_ready or self.is_failed

    @property
    def detail(self) -> str | None:
        details = self.raw.get("status_details")
        value = details.get("description") if isinstance(details, Mapping) else None
        return str(value) if value else None


@dataclass
class Backoff:
    """Polling intervals: ``initial_s`` growing by ``factor`` up to ``cap_s``, each with ±``jitter``."""

    initial_s: float = 5.0
    cap_s: float = 60.0
    factor: float = 1.6
    jitter: float = 0.15
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _current: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.cap_s:
            raise ValueError("Backoff needs 0 < initial_s ≤ cap_s")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("Backoff needs factor ≥ 1 and 0 ≤ jitter < 1")

    def next(self) -> float:
        base = self.initial_s if self._current is None else min(self.cap_s, self._current * self.factor)
        self._current = base
        return min(self.cap_s, base * self.rng.uniform(1 - self.jitter, 1 + self.jitter))

    def reset(self) -> None:
        self._current = None


@dataclass
class PendingWatch:
    """Fails a deployment that stays ``created``/``pending`` longer than ``limit_s`` (no capacity, bad image)."""

    limit_s: float
    clock: Callable[[], float] = time.monotonic
    _since: float | None = field(default=None, init=False)

    def observe(self, info: DeploymentInfo) -> None:
        if info.status not in DEPLOYMENT_PENDING:
            self._since = None
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        elif now - self._since > self.limit_s:
            raise NemoDeploymentError(
                f"deployment {info.namespace}/{info.name} stuck in '{info.status}' for more than "
                f"{self.limit_s:.0f}s (not enough GPU capacity, or the image cannot be pulled?)"
            )
