"""Fault injection for the NeMo emulator.

Faults come from the settings file (key ``faults``), from ``$FLYWHEEL_EMULATOR_CONFIG``, or at run time:
``POST /emulator/faults`` with a JSON list (replaces the list), ``GET /emulator/faults``,
``DELETE /emulator/faults`` (clears it). Each fault is an object with a ``kind``:

``{"kind": "http_error", "endpoint": "customization.status", "status": 503, "rate": 1.0, "count": 3,
  "model": null, "message": "..."}``
    The matching endpoint answers ``status`` with ``{"detail": message}`` (429 adds ``Retry-After: 1``).
    ``"for_s": 90`` makes it an outage: it fires only during the first 90 s after the fault list was set.
``{"kind": "latency", "endpoint": "deployments.get", "seconds": 5, "rate": 1.0, "count": null, "model": null}``
    Adds ``seconds`` before the endpoint answers (use more than the client timeout to provoke a timeout).
``{"kind": "stuck", "job": "deployment", "model": "meta/llama-3.2-3b-instruct"}``
    A matching deployment (or ``customization`` / ``evaluation`` job) stays ``pending``. Checked
    continuously: removing the fault lets it proceed.
``{"kind": "job_failure", "job": "customization", "model": "meta/llama-3.2-3b-instruct", "at_percent": 50,
  "message": "...", "count": null}``
    The matching job fails (a deployment reports ``failed``; a customization fails at ``at_percent`` with
    the message in ``status_logs[].detail``; an evaluation fails with ``status_details.message``).
``{"kind": "slow_job", "job": "customization", "seconds": 300, "model": null, "count": null}``
    The matching job's running phase takes ``seconds`` instead of the configured duration.
``{"kind": "wrong_answers", "model": "meta/llama-3.2-1b-instruct", "rate": 1.0}``
    The model's chat answers are degraded: a matching request gets an unrelated text answer (no tool call).
``{"kind": "never_sync", "model": null}``
    A completed customization's output model never appears in ``GET /v1/models`` (checked continuously).
``{"kind": "judge_always_top", "model": null}``
    A broken judge: the judge model (``model``: that judge only) answers the top rating to every judging
    prompt, over chat and inside evaluations (checked continuously).

Common fields:
- ``endpoint``: an endpoint id such as ``customization.status`` or a glob (``customization.*``, ``*``);
  ``GET /emulator/endpoints`` lists the ids (they are the keys of ``requests`` in ``/emulator/stats``).
- ``rate`` (0..1, default 1): probability that the fault fires on a match (seeded, so runs repeat).
- ``count`` (default unlimited): how many times it fires (HTTP faults) or how many jobs it hits (job faults).
- ``model``: restrict to one model. For HTTP faults it is compared with the model the request names
  (``model``, ``config.model``, ``target.model`` in the body, or a model id in the path); a request that
  names none never matches. For jobs it matches the job's model: the deployment's ``config.model``, the
  customization's target base model or its output model, the evaluation target model or (for a LoRA
  adapter) its base model.
Job faults (``job_failure``, ``slow_job``) bind when the job is created; ``stuck`` and ``never_sync`` are
checked on every state update.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

JobKind = Literal["deployment", "customization", "evaluation"]
Rate = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=1)] | None


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    count: Count = None


class HttpErrorFault(_Fault):
    kind: Literal["http_error"]
    endpoint: str = "*"
    status: Annotated[int, Field(ge=400, le=599)] = 500
    rate: Rate = 1.0
    message: str | None = None
    for_s: Annotated[float, Field(gt=0)] | None = None


class LatencyFault(_Fault):
    kind: Literal["latency"]
    endpoint: str = "*"
    seconds: Annotated[float, Field(gt=0, le=3600)]
    rate: Rate = 1.0


class StuckFault(_Fault):
    kind: Literal["stuck"]
    job: JobKind = "deployment"


class JobFailureFault(_Fault):
    kind: Literal["job_failure"]
    job: JobKind
    at_percent: Annotated[float, Field(ge=0, le=100)] = 50.0
    message: str | None = None


class SlowJobFault(_Fault):
    kind: Literal["slow_job"]
    job: JobKind
    seconds: Annotated[float, Field(ge=0)]


class NeverSyncFault(_Fault):
    kind: Literal["never_sync"]


class WrongAnswersFault(_Fault):
    kind: Literal["wrong_answers"]
    rate: Rate = 1.0


class JudgeAlwaysTopFault(_Fault):
    kind: Literal["judge_always_top"]


Fault = Annotated[
    HttpErrorFault
    | LatencyFault
    | StuckFault
    | JobFailureFault
    | SlowJobFault
    | NeverSyncFault
    | WrongAnswersFault
    | JudgeAlwaysTopFault,
    Field(discriminator="kind"),
]
FAULT_LIST: TypeAdapter[list[Fault]] = TypeAdapter(list[Fault])


@dataclass
class HttpDecision:
    latency_s: float = 0.0
    error: HttpErrorFault | None = None


class FaultBook:
    """The active faults plus how often each has fired. Not thread-safe: used from the event loop."""

    def __init__(self, faults: Iterable[BaseModel] = (), seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self.fired: Counter[str] = Counter()
        self.replace(list(faults))

    def replace(self, faults: Sequence[BaseModel]) -> None:
        self.faults = list(faults)
        self._since = time.monotonic()
        self._left: list[int | None] = [getattr(f, "count", None) for f in self.faults]

    def clear(self) -> None:
        self.replace([])

    def dump(self) -> list[dict[str, object]]:
        return [f.model_dump(exclude_none=True) for f in self.faults]

    def _fire(self, i: int, rate: float = 1.0) -> bool:
        left = self._left[i]
        if left is not None and left <= 0:
            return False
        if rate < 1.0 and self._rng.random() >= rate:
            return False
        if left is not None:
            self._left[i] = left - 1
        self.fired[self.faults[i].kind] += 1  # type: ignore[attr-defined]
        return True

    def http(self, endpoint: str, model: str | None) -> HttpDecision:
        decision = HttpDecision()
        for i, f in enumerate(self.faults):
            if not isinstance(f, HttpErrorFault | LatencyFault) or not fnmatch.fnmatchcase(endpoint, f.endpoint):
                continue
            if f.model is not None and f.model != model:
                continue
            if isinstance(f, LatencyFault):
                if self._fire(i, f.rate):
                    decision.latency_s += f.seconds
            elif f.for_s is not None and time.monotonic() - self._since > f.for_s:
                continue
            elif decision.error is None and self._fire(i, f.rate):
                decision.error = f
        return decision

    def bind_job(self, job: str, models: set[str]) -> tuple[JobFailureFault | None, SlowJobFault | None]:
        """Failure and slow-down faults that apply to a new job (consumes their counts)."""
        failure: JobFailureFault | None = None
        slow: SlowJobFault | None = None
        for i, f in enumerate(self.faults):
            if isinstance(f, JobFailureFault | SlowJobFault) and f.job == job and _matches(f.model, models):
                if isinstance(f, JobFailureFault) and failure is None and self._fire(i):
                    failure = f
                elif isinstance(f, SlowJobFault) and slow is None and self._fire(i):
                    slow = f
        return failure, slow

    def stuck(self, job: str, models: set[str]) -> bool:
        return any(isinstance(f, StuckFault) and f.job == job and _matches(f.model, models) for f in self.faults)

    def wrong_answer(self, model: str) -> bool:
        return any(
            isinstance(f, WrongAnswersFault) and _matches(f.model, {model}) and self._fire(i, f.rate)
            for i, f in enumerate(self.faults)
        )

    def never_sync(self, models: set[str]) -> bool:
        return any(isinstance(f, NeverSyncFault) and _matches(f.model, models) for f in self.faults)

    def judge_always_top(self, judge: str) -> bool:
        return any(isinstance(f, JudgeAlwaysTopFault) and _matches(f.model, {judge}) for f in self.faults)


def _matches(wanted: str | None, models: set[str]) -> bool:
    return wanted is None or wanted in models
