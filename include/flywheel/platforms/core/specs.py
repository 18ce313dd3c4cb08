"""The port's requests and answers as typed values, in no backend's wire shape.

The Airflow layer builds these (``flywheel.platforms.core.configs``) and hands them to the port; each
adapter maps them to its own payloads (``platforms/nmp/wire.py``, ``platforms/helix/payloads.py``) and
reads its answers back into :class:`EvaluationResults` and :class:`EvalRow`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flywheel.config import LoraConfig, TrainingConfig

WorkloadType = Literal["generic", "tool_calling", "classification"]
WORKLOAD_TYPES: tuple[WorkloadType, ...] = ("generic", "tool_calling", "classification")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JudgeRef(_Spec):
    """The LLM judge: a model served by the platform (``local``), or a remote chat-completions URL."""

    mode: Literal["local", "remote"]
    model_name: str
    url: str | None = None
    api_key: str | None = Field(default=None, repr=False)


class EvaluationSpec(_Spec):
    """One evaluation: the workload's metrics on one eval file (at most ``limit`` rows), maybe a judge."""

    workload_type: WorkloadType
    files_url: str
    limit: int | None = None
    judge: JudgeRef | None = None


class EvaluationTarget(_Spec):
    """The model evaluated: served by the platform, or (``served_url``) already served elsewhere with its
    own ``api_key`` (never logged)."""

    model: str
    served_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)


class CustomizationSpec(_Spec):
    """One LoRA/full customization job; ``marks`` are the run's owner marks."""

    name: str
    namespace: str
    output_model: str
    config: str
    dataset: str
    training: TrainingConfig
    lora: LoraConfig | None = None
    marks: dict[str, str] = Field(default_factory=dict)


class Score(_Spec):
    """One aggregate score: its value and, where the platform says, over how many rows."""

    value: float | None
    count: int | None = None


class EvaluationResults(_Spec):
    """A finished evaluation's aggregates as ``metrics[metric][score]`` (metric and score names as in
    docs/contracts.md#results: ``llm-judge.similarity`` on 1..10, ``tool-calling-accuracy.*``,
    ``correctness.rating``, ``f1.f1``/``f1.accuracy``); ``raw`` is the backend's own answer."""

    workload_type: WorkloadType | None = None
    metrics: dict[str, dict[str, Score]]
    raw: dict[str, object] = Field(default_factory=dict, repr=False)  # the backend's answer, as it came


class EvalRow(_Spec):
    """One eval row's result: its id, its slice (tool name(s) for tool calling, class for classification),
    each metric's value on it (``<metric>.<score>``), and the judge's raw answer where a judge scored it."""

    row_id: str
    slice: str | None = None
    scores: dict[str, float | None]
    judge_answer: str | None = None


__all__ = [
    "WORKLOAD_TYPES",
    "CustomizationSpec",
    "EvalRow",
    "EvaluationResults",
    "EvaluationSpec",
    "EvaluationTarget",
    "JudgeRef",
    "Score",
    "WorkloadType",
]
