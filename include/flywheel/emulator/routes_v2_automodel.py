"""Helix v2 automodel (LoRA/SFT) jobs on the emulated GPU pool (real training needs Docker/Kubernetes).

``/apis/customization/v2/workspaces/{ws}/automodel/jobs[/{name}]``, ``.../{name}/status``,
``POST .../{name}/cancel`` [v2.automodel.*]. A job walks ``created → pending → active → completed``
(``error`` on an injected failure, ``cancelled`` on cancel) on the Customizer's clock and faults; its
output is an adapter on the job's model, served by the NIM routes once the base model is deployed
(the Helix gateway names it ``<ws>/<model>&adapters/<ws>/<adapter>``; the NIM serves it as ``<ws>/<adapter>``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.state import TERMINAL, CustomizationJob, StatusLog
from flywheel.emulator.util import helix_name_check, http_error, new_id, now_iso
from flywheel.platforms.helix.payloads import entity_name

router = APIRouter(route_class=EmulatorRoute)
BASE = "/apis/customization/v2/workspaces/{workspace}/automodel/jobs"
HelixName = Annotated[str, AfterValidator(helix_name_check)]
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
    options: dict[str, Any] | None = None
    ownership: dict[str, Any] | None = None
    custom_fields: dict[str, Any] | None = None
    output_location: str | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


def _served_base(request: Request, model: str) -> str:
    """The served model id behind a Helix model entity ``ws/entity`` (a v2 deployment of it), else itself."""
    entity = model.split("/", 1)[-1]
    for d in _platform(request).v2_deployments.values():
        if entity_name(d.model) == entity:
            return str(d.model)
    return model


def _spec_out(j: CustomizationJob, workspace: str) -> dict[str, Any]:
    spec = dict(j.body["spec"])
    out = spec.pop("output") or {"name": f"{j.id}-adapter"}
    training = dict(spec["training"])
    if training.get("finetuning_type") == "lora" and training.get("lora") is None:
        training["lora"] = LoraIn().model_dump()
    return {
        **spec,
        "training": training,
        "backend": "automodel",
        "parallelism": {},
        "output": {
            "name": out["name"],
            "type": "adapter" if training.get("finetuning_type") == "lora" else "model",
            "fileset": f"{workspace}/{out['name']}",
            "description": out.get("description"),
        },
    }


def job_json(j: CustomizationJob, workspace: str) -> dict[str, Any]:
    body = j.body
    failed = j.status == "failed"
    return {
        "id": j.body["_id"],
        "name": j.id,
        "description": body.get("description"),
        "project": body.get("project"),
        "workspace": workspace,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "spec": _spec_out(j, workspace),
        "status": STATUS.get(j.status, "pending"),
        "status_details": {"message": j.logs[-1].message if j.logs else "Job created", "progress": j.percentage},
        "error_details": {"message": j.logs[-1].detail} if failed and j.logs else None,
        "ownership": body.get("ownership"),
        "custom_fields": body.get("custom_fields") or {},
    }


def status_json(j: CustomizationJob, workspace: str) -> dict[str, Any]:
    full = job_json(j, workspace)
    keys = ("id", "name", "status", "status_details", "error_details", "created_at", "updated_at")
    return {**{k: full[k] for k in keys}, "steps": []}


@router.post(BASE, name="v2.automodel.create", status_code=201)
async def create_job(workspace: str, body: JobIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    name = body.name or new_id("automodel").lower().replace("_", "-")
    key = f"{workspace}/{name}"
    if key in p.v2_jobs:
        raise http_error(409, f"Job '{key}' already exists")
    base = _served_base(request, body.spec.model)
    adapter = body.spec.output.name if body.spec.output else f"{name}-adapter"
    target = TargetSpec(name=body.spec.model, base_model=base)
    failure, slow = p.faults.bind_job("customization", {body.spec.model, base})
    stored = {**body.model_dump(mode="json"), "_id": new_id("platform-job")}
    j = CustomizationJob(
        id=name,
        body=stored,
        target=target,
        output_model=f"{workspace}/{adapter}",
        gpus=1,
        epochs=body.spec.schedule.epochs,
        steps_per_epoch=1,
        created=time.monotonic(),
        failure=failure,
        slow=slow,
        logs=[StatusLog("Job created")],
    )
    p.v2_jobs[key] = j
    p.created["customization"] += 1
    p.tick()
    return job_json(j, workspace)


def _get(request: Request, workspace: str, name: str) -> CustomizationJob:
    j = _platform(request).v2_jobs.get(f"{workspace}/{name}")
    if j is None:
        raise http_error(404, f"Job '{workspace}/{name}' not found")
    return j


@router.get(BASE, name="v2.automodel.list")
async def list_jobs(workspace: str, request: Request) -> dict[str, Any]:
    items = [job_json(j, workspace) for k, j in _platform(request).v2_jobs.items() if k.startswith(f"{workspace}/")]
    n = len(items)
    pagination = {"page": 1, "page_size": max(n, 1), "current_page_size": n, "total_pages": 1, "total_results": n}
    return {"data": items, "pagination": pagination, "sort": "-created_at", "filter": None}


@router.get(BASE + "/{name}", name="v2.automodel.get")
async def get_job(workspace: str, name: str, request: Request) -> dict[str, Any]:
    return job_json(_get(request, workspace, name), workspace)


@router.get(BASE + "/{name}/status", name="v2.automodel.status")
async def get_status(workspace: str, name: str, request: Request) -> dict[str, Any]:
    return status_json(_get(request, workspace, name), workspace)


@router.post(BASE + "/{name}/cancel", name="v2.automodel.cancel")
async def cancel_job(workspace: str, name: str, request: Request) -> dict[str, Any]:
    j = _get(request, workspace, name)
    if j.status not in TERMINAL:
        j.finished = time.monotonic()
        j.status, j.updated_at = "cancelled", now_iso()
        j.logs.append(StatusLog("Cancelled"))
        _platform(request).tick()
    return job_json(j, workspace)
