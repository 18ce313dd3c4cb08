"""Customizer: configs, targets, jobs (status, cancel)."""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.jobs import TERMINAL, NmpCustomizationJob, StatusLog
from flywheel.emulator.resources import (
    ConfigIn,
    CustomizationConfig,
    FinetuningType,
    JsonFields,
    Name,
    Positive,
    Target,
    TrainingType,
)
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.state import Platform
from flywheel.emulator.util import OmitNone, Page, http_error, new_id, now_iso, paged, split_ref

router = APIRouter(route_class=EmulatorRoute)
C = "/v1/customization"


class LoraIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    adapter_dim: Positive = 8
    adapter_dropout: Annotated[float, Field(ge=0, lt=1)] | None = None
    alpha: Positive | None = None


class HyperparametersIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    finetuning_type: FinetuningType
    training_type: TrainingType = "sft"
    epochs: Positive = 1
    batch_size: Positive = 8
    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 1e-4
    lora: LoraIn | None = None


class DatasetRefIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Name
    namespace: Name = "default"


class JobIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    config: Annotated[str, Field(min_length=3)]
    dataset: DatasetRefIn
    hyperparameters: HyperparametersIn
    output_model: Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.+-]+$")] | None = None
    name: str | None = None
    namespace: str | None = None
    description: str | None = None
    custom_fields: JsonFields | None = None
    project: str | None = None


def _target(p: Platform, ref: str) -> TargetSpec | None:
    return next((t for t in p.settings.targets if t.name == ref), None)


class ConfigDeleted(BaseModel):
    message: str = "Resource deleted successfully."
    id: str
    deleted_at: str


@router.post(C + "/configs", name="customization.configs.create")
async def create_config(body: ConfigIn, request: Request) -> CustomizationConfig:
    p = platform_of(request)
    target = _target(p, body.target)
    if target is None:
        raise http_error(404, f"Customization target '{body.target}' not found")
    key = f"{body.namespace}/{body.name}"
    if key in p.custom_configs:
        raise http_error(409, f"Customization config '{key}' already exists")
    ts = now_iso()
    fields = {**body.model_dump(), "id": new_id("customization_config"), "created_at": ts, "updated_at": ts}
    p.custom_configs[key] = cfg = CustomizationConfig.model_validate({**fields, "target": Target.of(target)})
    return cfg


@router.get(C + "/configs", name="customization.configs.list")
async def list_configs(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[CustomizationConfig]:
    return paged(list(platform_of(request).custom_configs.values()), page_no, page_size)


@router.get(C + "/configs/{namespace}/{name}", name="customization.configs.get")
async def get_config(namespace: str, name: str, request: Request) -> CustomizationConfig:
    cfg = platform_of(request).custom_configs.get(f"{namespace}/{name}")
    if cfg is None:
        raise http_error(404, f"Customization config '{namespace}/{name}' not found")
    return cfg


@router.delete(C + "/configs/{namespace}/{name}", name="customization.configs.delete")
async def delete_config(namespace: str, name: str, request: Request) -> ConfigDeleted:
    if platform_of(request).custom_configs.pop(f"{namespace}/{name}", None) is None:
        raise http_error(404, f"Customization config '{namespace}/{name}' not found")
    return ConfigDeleted(id=f"{namespace}/{name}", deleted_at=now_iso())


@router.get(C + "/targets", name="customization.targets.list")
async def list_targets(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[Target]:
    return paged([Target.of(t) for t in platform_of(request).settings.targets], page_no, page_size)


@router.get(C + "/targets/{namespace}/{name}", name="customization.targets.get")
async def get_target(namespace: str, name: str, request: Request) -> Target:
    t = _target(platform_of(request), f"{namespace}/{name}")
    if t is None:
        raise http_error(404, f"Customization target '{namespace}/{name}' not found")
    return Target.of(t)


def _training_records(p: Platform, namespace: str, name: str) -> int:
    repo = p.store.repo(namespace, name)
    if repo is None:
        raise http_error(422, f"Dataset '{namespace}/{name}' has no files in the Data Store")
    lines = sum(
        len([ln for ln in c.splitlines() if ln.strip()])
        for path, c in repo.files.items()
        if path.startswith("training/")
    )
    if not lines:
        raise http_error(422, f"Dataset '{namespace}/{name}' has no training/ files with records")
    return lines


@router.post(C + "/jobs", name="customization.jobs.create")
async def create_job(body: JobIn, request: Request) -> JobOut:
    p = platform_of(request)
    split_ref(body.config)
    cfg = p.custom_configs.get(body.config)
    if cfg is None:
        raise http_error(404, f"Customization config '{body.config}' not found")
    if f"{body.dataset.namespace}/{body.dataset.name}" not in p.datasets:
        raise http_error(404, f"Dataset '{body.dataset.namespace}/{body.dataset.name}' not found")
    records = _training_records(p, body.dataset.namespace, body.dataset.name)
    target = _target(p, f"{cfg.target.namespace}/{cfg.target.name}")
    if target is None:
        raise http_error(422, f"Customization target of config '{body.config}' is not available")
    opt = cfg.training_options[0]
    job_id = new_id("cust")
    output = f"{body.output_model}@{job_id}" if body.output_model else None
    models = {target.base_model, target.name} | ({body.output_model, output} if output else set())
    failure, slow = p.faults.bind_job("customization", {m for m in models if m})
    hp = body.hyperparameters
    job = NmpCustomizationJob(
        id=job_id,
        target=target,
        output_model=output,
        gpus=opt.num_gpus * opt.num_nodes,
        epochs=hp.epochs,
        steps_per_epoch=max(1, math.ceil(records / hp.batch_size)),
        created=time.monotonic(),
        failure=failure,
        slow=slow,
        finetuning_type=hp.finetuning_type,
        config=body.config,
        dataset=body.dataset.model_dump(exclude_none=True),
        hyperparameters=hp.model_dump(exclude_none=True),
        namespace=body.namespace,
        name=body.name,
        description=body.description,
        custom_fields=body.custom_fields or {},
        project=body.project,
    )
    job.logs.append(StatusLog("created"))
    p.custom_jobs[job_id] = job
    p.created["customization"] += 1
    return JobOut.of(job)


class LogEntry(OmitNone):
    updated_at: str
    message: str
    detail: str | None = None


class CustomizationStatus(OmitNone):
    """A job's ``status_details`` (the losses appear once a step is done)."""

    id: str
    status: str
    created_at: str
    updated_at: str
    percentage_done: float
    epochs_completed: int
    steps_completed: int
    steps_per_epoch: int
    status_logs: list[LogEntry]
    elapsed_time: float
    train_loss: float | None = None
    val_loss: float | None = None
    best_epoch: int | None = None

    @classmethod
    def of(cls, j: NmpCustomizationJob) -> CustomizationStatus:
        epochs_done = j.epochs if j.status == "completed" else int(j.epochs * j.percentage / 100.0)
        steps_total = j.epochs * j.steps_per_epoch
        steps_done = steps_total if j.status == "completed" else int(steps_total * j.percentage / 100.0)
        out = cls(
            id=j.id,
            status=j.status,
            created_at=j.created_at,
            updated_at=j.updated_at,
            percentage_done=round(j.percentage, 1),
            epochs_completed=epochs_done,
            steps_completed=steps_done,
            steps_per_epoch=j.steps_per_epoch,
            status_logs=[LogEntry(updated_at=log.updated_at, message=log.message, detail=log.detail) for log in j.logs],
            elapsed_time=0.0 if j.allocated is None else round((j.finished or time.monotonic()) - j.allocated, 2),
        )
        if steps_done:
            loss = 2.0 / (1.0 + steps_done / max(j.steps_per_epoch, 1))
            out.train_loss, out.val_loss = round(loss, 4), round(loss * 1.05, 4)
            out.best_epoch = max(epochs_done - 1, 0)
        return out


class JobOut(BaseModel):
    """A customization job as the Customizer answers it (the request's dataset and hyperparameters echoed)."""

    id: str
    namespace: str
    name: str | None
    description: str | None
    config: str
    dataset: JsonFields
    hyperparameters: JsonFields
    output_model: str | None
    custom_fields: JsonFields
    status: str
    status_details: CustomizationStatus
    created_at: str
    updated_at: str
    project: str | None

    @classmethod
    def of(cls, j: NmpCustomizationJob) -> JobOut:
        return cls(
            id=j.id,
            namespace=j.namespace or j.config.split("/")[0],
            name=j.name,
            description=j.description,
            config=j.config,
            dataset=j.dataset,
            hyperparameters=j.hyperparameters,
            output_model=j.output_model,
            custom_fields=j.custom_fields,
            status=j.status,
            status_details=CustomizationStatus.of(j),
            created_at=j.created_at,
            updated_at=j.updated_at,
            project=j.project,
        )


@router.get(C + "/jobs", name="customization.jobs.list")
async def list_jobs(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[JobOut]:
    return paged([JobOut.of(j) for j in platform_of(request).custom_jobs.values()], page_no, page_size)


def _job(request: Request, job_id: str) -> NmpCustomizationJob:
    j = platform_of(request).custom_jobs.get(job_id)
    if j is None:
        raise http_error(404, f"Customization job '{job_id}' not found")
    return j


@router.get(C + "/jobs/{job_id}", name="customization.jobs.get")
async def get_job(job_id: str, request: Request) -> JobOut:
    return JobOut.of(_job(request, job_id))


@router.get(C + "/jobs/{job_id}/status", name="customization.status")
async def job_status(job_id: str, request: Request) -> CustomizationStatus:
    return CustomizationStatus.of(_job(request, job_id))


async def _cancel(job_id: str, request: Request) -> JobOut:
    j = _job(request, job_id)
    if j.status in TERMINAL:
        raise http_error(409, f"Customization job '{job_id}' is already {j.status}")
    j.finished = time.monotonic()
    j.status, j.updated_at = "cancelled", now_iso()
    j.logs.append(StatusLog("Cancelled"))
    platform_of(request).tick()
    return JobOut.of(j)


@router.post(C + "/jobs/{job_id}/cancel", name="customization.cancel")
async def cancel_job(job_id: str, request: Request) -> JobOut:
    return await _cancel(job_id, request)


@router.post("/v1/customizations/{job_id}/cancel", name="customization.cancel_legacy")
async def cancel_job_legacy(job_id: str, request: Request) -> JobOut:
    """The path the reference blueprint calls (a defect there); served so both spellings work."""
    return await _cancel(job_id, request)
