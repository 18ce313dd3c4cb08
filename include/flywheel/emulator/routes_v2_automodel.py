"""Helix v2 automodel (LoRA/SFT) jobs on the emulated GPU pool (real training needs Docker/Kubernetes).

``/apis/customization/v2/workspaces/{ws}/automodel/jobs[/{name}]``, ``.../{name}/status``,
``POST .../{name}/cancel`` [v2.automodel.*]. A job walks ``created → pending → active → completed``
(``error`` on an injected failure, ``cancelled`` on cancel) on the Customizer's clock and faults; its
output is an adapter on the job's model, served by the NIM routes once the base model is deployed
(the Helix gateway names it ``<ws>/<model>&adapters/<ws>/<adapter>``; the NIM serves it as ``<ws>/<adapter>``).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.jobs import TERMINAL, AutomodelJob, StatusLog
from flywheel.emulator.resources import HelixName, JsonFields
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.util import HelixPage, http_error, new_id, now_iso
from flywheel.platforms.helix.payloads import entity_name

router = APIRouter(route_class=EmulatorRoute)
BASE = "/apis/customization/v2/workspaces/{workspace}/automodel/jobs"
STATUS = {"created": "created", "pending": "pending", "running": "active", "completed": "completed"}
STATUS |= {"failed": "error", "cancelled": "cancelled"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetIn(_Strict):
    training: str
    validation: str | None = None
    prompt_template: str | None = None
    shuffle: bool = True


class LoraIn(_Strict):
    rank: Annotated[int, Field(gt=0)] = 16
    alpha: Annotated[int, Field(gt=0)] = 32
    dropout: Annotated[float, Field(ge=0, le=1)] = 0.0
    merge: bool = False
    target_modules: list[str] | None = None


class TrainingIn(_Strict):
    training_type: Literal["sft", "distillation"] = "sft"
    finetuning_type: Literal["lora", "all_weights", "lora_merged"] = "lora"
    lora: LoraIn | None = None
    max_seq_length: Annotated[int, Field(gt=0)] = 2048


class ScheduleIn(_Strict):
    epochs: Annotated[int, Field(gt=0)] = 1
    max_steps: Annotated[int, Field(gt=0)] | None = None


class BatchIn(_Strict):
    global_batch_size: Annotated[int, Field(gt=0)] = 8
    micro_batch_size: Annotated[int, Field(gt=0)] = 1


class OptimizerIn(_Strict):
    learning_rate: Annotated[float, Field(gt=0)] = 5e-6
    weight_decay: Annotated[float, Field(ge=0)] = 0.01
    warmup_steps: Annotated[int, Field(ge=0)] = 0


class OutputIn(_Strict):
    name: str
    description: str | None = None


class SpecIn(_Strict):
    name: str | None = None
    model: str
    dataset: DatasetIn
    training: TrainingIn
    schedule: ScheduleIn = Field(default_factory=ScheduleIn)
    batch: BatchIn = Field(default_factory=BatchIn)
    optimizer: OptimizerIn = Field(default_factory=OptimizerIn)
    output: OutputIn | None = None


class JobIn(_Strict):
    name: HelixName | None = None
    description: str | None = None
    project: str | None = None
    spec: SpecIn
    profile: str | None = None
    options: JsonFields | None = None
    ownership: JsonFields | None = None
    custom_fields: JsonFields | None = None
    output_location: str | None = None


class SpecOutput(BaseModel):
    name: str
    type: Literal["adapter", "model"]
    fileset: str
    description: str | None


class SpecOut(BaseModel):
    """The spec as a job answers it: the request's, with its defaults, the backend and the output."""

    name: str | None
    model: str
    dataset: DatasetIn
    training: TrainingIn
    schedule: ScheduleIn
    batch: BatchIn
    optimizer: OptimizerIn
    backend: Literal["automodel"] = "automodel"
    parallelism: JsonFields = Field(default_factory=dict)
    output: SpecOutput

    @classmethod
    def of(cls, spec: SpecIn, job_name: str, workspace: str) -> SpecOut:
        out = spec.output or OutputIn(name=f"{job_name}-adapter")
        training = spec.training
        if training.finetuning_type == "lora" and training.lora is None:
            training = training.model_copy(update={"lora": LoraIn()})
        kind: Literal["adapter", "model"] = "adapter" if training.finetuning_type == "lora" else "model"
        return cls(
            name=spec.name,
            model=spec.model,
            dataset=spec.dataset,
            training=training,
            schedule=spec.schedule,
            batch=spec.batch,
            optimizer=spec.optimizer,
            output=SpecOutput(name=out.name, type=kind, fileset=f"{workspace}/{out.name}", description=out.description),
        )


def _served_base(request: Request, model: str) -> str:
    """The served model id behind a Helix model entity ``ws/entity`` (a v2 deployment of it), else itself."""
    entity = model.split("/", 1)[-1]
    for d in platform_of(request).v2_deployments.values():
        if entity_name(d.model) == entity:
            return d.model
    return model


class StatusDetails(BaseModel):
    message: str
    progress: float


class ErrorDetails(BaseModel):
    message: str | None


class JobStatus(BaseModel):
    id: str
    name: str
    status: str
    status_details: StatusDetails
    error_details: ErrorDetails | None
    created_at: str
    updated_at: str
    steps: list[JsonFields] = Field(default_factory=list)


class Job(BaseModel):
    """An automodel job as the customization service answers it."""

    id: str
    name: str
    description: str | None
    project: str | None
    workspace: str
    created_at: str
    updated_at: str
    spec: JsonFields
    status: str
    status_details: StatusDetails
    error_details: ErrorDetails | None
    ownership: JsonFields | None
    custom_fields: JsonFields

    @classmethod
    def of(cls, j: AutomodelJob, workspace: str) -> Job:
        failed = j.status == "failed"
        return cls(
            id=j.platform_id,
            name=j.id,
            description=j.description,
            project=j.project,
            workspace=workspace,
            created_at=j.created_at,
            updated_at=j.updated_at,
            spec=j.spec,
            status=STATUS.get(j.status, "pending"),
            status_details=StatusDetails(
                message=j.logs[-1].message if j.logs else "Job created", progress=j.percentage
            ),
            error_details=ErrorDetails(message=j.logs[-1].detail) if failed and j.logs else None,
            ownership=j.ownership,
            custom_fields=j.custom_fields,
        )

    def status_only(self) -> JobStatus:
        return JobStatus.model_validate(self.model_dump(include=set(JobStatus.model_fields)))


@router.post(BASE, name="v2.automodel.create", status_code=201)
async def create_job(workspace: str, body: JobIn, request: Request) -> Job:
    p = platform_of(request)
    name = body.name or new_id("automodel").lower().replace("_", "-")
    key = f"{workspace}/{name}"
    if key in p.v2_jobs:
        raise http_error(409, f"Job '{key}' already exists")
    base = _served_base(request, body.spec.model)
    adapter = body.spec.output.name if body.spec.output else f"{name}-adapter"
    target = TargetSpec(name=body.spec.model, base_model=base)
    failure, slow = p.faults.bind_job("customization", {body.spec.model, base})
    j = AutomodelJob(
        id=name,
        target=target,
        output_model=f"{workspace}/{adapter}",
        gpus=1,
        epochs=body.spec.schedule.epochs,
        steps_per_epoch=1,
        created=time.monotonic(),
        failure=failure,
        slow=slow,
        logs=[StatusLog("Job created")],
        platform_id=new_id("platform-job"),
        spec=SpecOut.of(body.spec, name, workspace).model_dump(mode="json"),
        description=body.description,
        project=body.project,
        ownership=body.ownership,
        custom_fields=body.custom_fields or {},
    )
    p.v2_jobs[key] = j
    p.created["customization"] += 1
    p.tick()
    return Job.of(j, workspace)


def _get(request: Request, workspace: str, name: str) -> AutomodelJob:
    j = platform_of(request).v2_jobs.get(f"{workspace}/{name}")
    if j is None:
        raise http_error(404, f"Job '{workspace}/{name}' not found")
    return j


@router.get(BASE, name="v2.automodel.list")
async def list_jobs(workspace: str, request: Request) -> HelixPage[Job]:
    jobs = platform_of(request).v2_jobs.items()
    return HelixPage.of([Job.of(j, workspace) for k, j in jobs if k.startswith(f"{workspace}/")])


@router.get(BASE + "/{name}", name="v2.automodel.get")
async def get_job(workspace: str, name: str, request: Request) -> Job:
    return Job.of(_get(request, workspace, name), workspace)


@router.get(BASE + "/{name}/status", name="v2.automodel.status")
async def get_status(workspace: str, name: str, request: Request) -> JobStatus:
    return Job.of(_get(request, workspace, name), workspace).status_only()


@router.post(BASE + "/{name}/cancel", name="v2.automodel.cancel")
async def cancel_job(workspace: str, name: str, request: Request) -> Job:
    j = _get(request, workspace, name)
    if j.status not in TERMINAL:
        j.finished = time.monotonic()
        j.status, j.updated_at = "cancelled", now_iso()
        j.logs.append(StatusLog("Cancelled"))
        platform_of(request).tick()
    return Job.of(j, workspace)
