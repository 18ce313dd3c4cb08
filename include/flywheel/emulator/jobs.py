"""The platform's objects with a lifecycle: deployments and jobs (faults call all of them jobs).

Each knows what it claims from the GPU pool and what its answers echo of its request; the clocks that move
them live in :class:`flywheel.emulator.state.Platform`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.emulator.faults import JobFailureFault, SlowJobFault
from flywheel.emulator.resources import JsonFields, StatusEntry
from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.util import now_iso
from flywheel.platforms.marks import is_candidate

TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class Deployment:
    """A model deployment on the GPU pool (DMS or Helix v2)."""

    namespace: str
    name: str
    model: str
    gpus: int
    created: float
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    allocated: float | None = None
    failure: JobFailureFault | None = None
    slow: SlowJobFault | None = None
    status: str = "pending"
    status_message: str = "Deployment created"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def owner_marks(self) -> Mapping[str, object]:
        return {}

    @property
    def served_ids(self) -> list[str]:
        """The model ids the NIM proxy serves once this deployment is ready."""
        return [self.model]

    @property
    def live_candidate(self) -> bool:
        return is_candidate(self.owner_marks)

    @property
    def holds_gpus(self) -> bool:
        return self.allocated is not None and self.status != "failed"

    @property
    def waits_for_gpus(self) -> bool:
        return self.allocated is None and self.status != "failed"


@dataclass(kw_only=True)
class DmsDeployment(Deployment):
    """An NMP Deployment Management Service deployment: what its answer echoes of the request."""

    config: JsonFields
    models: list[str] = field(default_factory=list)
    custom_fields: JsonFields = field(default_factory=dict)
    description: str | None = None
    async_enabled: bool = False
    project: str | None = None

    @property
    def owner_marks(self) -> Mapping[str, object]:
        return self.custom_fields

    @property
    def served_ids(self) -> list[str]:
        return [self.model, *self.models]


@dataclass(kw_only=True)
class HelixDeployment(Deployment):
    """A Helix v2 deployment of a deployment config; its owner marks come from the config's description."""

    platform_id: str
    config_name: str
    marks: dict[str, str] = field(default_factory=dict)
    created_s: float = 0.0  # reported CREATED this long after creation
    history: list[StatusEntry] = field(default_factory=list)

    @property
    def owner_marks(self) -> Mapping[str, object]:
        return self.marks


@dataclass
class StatusLog:
    message: str
    detail: str | None = None
    updated_at: str = field(default_factory=now_iso)


@dataclass
class CustomizationJob:
    """A training job on the GPU pool (NMP Customizer or Helix automodel)."""

    id: str
    target: TargetSpec
    output_model: str | None
    gpus: int
    epochs: int
    steps_per_epoch: int
    created: float
    failure: JobFailureFault | None
    slow: SlowJobFault | None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    status: str = "created"
    allocated: float | None = None
    percentage: float = 0.0
    finished: float | None = None
    logs: list[StatusLog] = field(default_factory=list)
    finetuning_type: str = "lora"  # of the output model entity

    @property
    def models(self) -> set[str]:
        return {self.target.base_model, self.target.name} | ({self.output_model} if self.output_model else set())

    @property
    def holds_gpus(self) -> bool:
        return self.allocated is not None and self.status not in TERMINAL


@dataclass(kw_only=True)
class NmpCustomizationJob(CustomizationJob):
    """An NMP Customizer job: what its answer echoes of the request."""

    config: str
    dataset: JsonFields
    hyperparameters: JsonFields
    namespace: str | None = None
    name: str | None = None
    description: str | None = None
    custom_fields: JsonFields = field(default_factory=dict)
    project: str | None = None


@dataclass(kw_only=True)
class AutomodelJob(CustomizationJob):
    """A Helix v2 automodel job; ``spec`` is the spec as the job answers it (with its defaults and output)."""

    platform_id: str
    spec: JsonFields
    description: str | None = None
    project: str | None = None
    ownership: JsonFields | None = None
    custom_fields: JsonFields = field(default_factory=dict)


@dataclass
class EvaluationJob:
    id: str
    body: dict[str, Any]
    target_model: str
    created: float
    failure: JobFailureFault | None
    slow: SlowJobFault | None
    models: set[str]
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    status: str = "created"
    started: float | None = None
    progress: float | None = None
    message: str | None = None
    results: dict[str, Any] | None = None
    samples: int = 0
