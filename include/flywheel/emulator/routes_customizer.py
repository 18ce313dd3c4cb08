"""Customizer: configs, targets, jobs (status, cancel)."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.state import TERMINAL, CustomizationJob
from flywheel.emulator.util import http_error, new_id, now_iso, page, split_ref

router = APIRouter(route_class=EmulatorRoute)
C = "/v1/customization"
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][\w.@+-]*$")]
Positive = Annotated[int, Field(ge=1)]


class TrainingOptionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    training_type: Literal["sft", "dpo", "distillation", "grpo"]
    finetuning_type: Literal["lora", "lora_merged", "all_weights"]
    num_gpus: Positive
    micro_batch_size: Positive = 1
    num_nodes: Positive = 1
    tensor_parallel_size: Positive = 1
    data_parallel_size: Positive | None = None
    use_sequence_parallel: bool = False


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Name
    namespace: Name = "default"
    target: Annotated[str, Field(min_length=3)]
    training_options: Annotated[list[TrainingOptionIn], Field(min_length=1)]
    training_precision: Literal["int8", "bf16", "fp16", "fp32", "fp8-mixed", "bf16-mixed"] = "bf16-mixed"
    max_seq_length: Annotated[int, Field(ge=128)] = 4096
    description: str | None = None
    custom_fields: dict[str, Any] | None = None


class LoraIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    adapter_dim: Positive = 8
    adapter_dropout: Annotated[float, Field(ge=0, lt=1)] | None = None
    alpha: Positive | None = None


class HyperparametersIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    finetuning_type: Literal["lora", "lora_merged", "all_weights"]
    training_type: Literal["sft", "dpo", "distillation", "grpo"] = "sft"
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
    custom_fields: dict[str, Any] | None = None
    project: str | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


def _target(p: Any, ref: str) -> TargetSpec | None:
    return next((t for t in p.settings.targets if t.name == ref), None)


def target_json(t: TargetSpec) -> dict[str, Any]:
    ns, _, name = t.name.partition("/")
    return {
        "id": f"customization_target-{name}",
        "name": name,
        "namespace": ns,
        "base_model": t.base_model,
        "enabled": True,
        "num_parameters": t.num_parameters,
        "precision": "bf16-mixed",
        "status": "ready",
        "model_path": f"{ns}/{name.replace('@', '_')}",
        "model_type": "nemo",
        "model_uri": f"ngc://nvidia/nemo/{name}",
    }


@router.post(C + "/configs", name="customization.configs.create")
async def create_config(body: ConfigIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    target = _target(p, body.target)
    if target is None:
        raise http_error(404, f"Customization target '{body.target}' not found")
    key = f"{body.namespace}/{body.name}"
    if key in p.custom_configs:
        raise http_error(409, f"Customization config '{key}' already exists")
    ts = now_iso()
    p.custom_configs[key] = {
        **body.model_dump(exclude_none=True),
        "id": new_id("customization_config"),
        "target": target_json(target),
        "created_at": ts,
        "updated_at": ts,
    }
    return p.custom_configs[key]


@router.get(C + "/configs", name="customization.configs.list")
async def list_configs(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    return page(list(_platform(request).custom_configs.values()), page_no, page_size)


@router.get(C + "/configs/{namespace}/{name}", name="customization.configs.get")
async def get_config(namespace: str, name: str, request: Request) -> dict[str, Any]:
    cfg = _platform(request).custom_configs.get(f"{namespace}/{name}")
    if cfg is None:
        raise http_error(404, f"Customization config '{namespace}/{name}' not found")
    return cfg


@router.delete(C + "/configs/{namespace}/{name}", name="customization.configs.delete")
async def delete_config(namespace: str, name: str, request: Request) -> dict[str, Any]:
    if _platform(request).custom_configs.pop(f"{namespace}/{name}", None) is None:
        raise http_error(404, f"Customization config '{namespace}/{name}' not found")
    return {"message": "Resource deleted successfully.", "id": f"{namespace}/{name}", "deleted_at": now_iso()}


@router.get(C + "/targets", name="customization.targets.list")
async def list_targets(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    return page([target_json(t) for t in _platform(request).settings.targets], page_no, page_size)


@router.get(C + "/targets/{namespace}/{name}", name="customization.targets.get")
async def get_target(namespace: str, name: str, request: Request) -> dict[str, Any]:
    t = _target(_platform(request), f"{namespace}/{name}")
    if t is None:
        raise http_error(404, f"Customization target '{namespace}/{name}' not found")
    return target_json(t)


def _training_records(p: Any, namespace: str, name: str) -> int:
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
async def create_job(body: JobIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    split_ref(body.config)
    cfg = p.custom_configs.get(body.config)
    if cfg is None:
        raise http_error(404, f"Customization config '{body.config}' not found")
    if f"{body.dataset.namespace}/{body.dataset.name}" not in p.datasets:
        raise http_error(404, f"Dataset '{body.dataset.namespace}/{body.dataset.name}' not found")
    records = _training_records(p, body.dataset.namespace, body.dataset.name)
    target = _target(p, cfg["target"]["namespace"] + "/" + cfg["target"]["name"])
    if target is None:
        raise http_error(422, f"Customization target of config '{body.config}' is not available")
    opt = cfg["training_options"][0]
    job_id = new_id("cust")
    output = f"{body.output_model}@{job_id}" if body.output_model else None
    models = {target.base_model, target.name} | ({body.output_model, output} if output else set())
    failure, slow = p.faults.bind_job("customization", {m for m in models if m})
    hp = body.hyperparameters
    job = CustomizationJob(
        id=job_id,
        body=body.model_dump(exclude_none=True),
        target=target,
        output_model=output,
        gpus=int(opt["num_gpus"]) * int(opt.get("num_nodes", 1)),
        epochs=hp.epochs,
        steps_per_epoch=max(1, math.ceil(records / hp.batch_size)),
        created=time.monotonic(),
        failure=failure,
        slow=slow,
    )
    job.logs.append(_log("created"))
    p.custom_jobs[job_id] = job
    p.created["customization"] += 1
    return job_json(job)


def _log(message: str) -> Any:
    from flywheel.emulator.state import StatusLog

    return StatusLog(message)


def status_json(j: CustomizationJob) -> dict[str, Any]:
    epochs_done = j.epochs if j.status == "completed" else int(j.epochs * j.percentage / 100.0)
    steps_total = j.epochs * j.steps_per_epoch
    steps_done = steps_total if j.status == "completed" else int(steps_total * j.percentage / 100.0)
    out: dict[str, Any] = {
        "id": j.id,
        "status": j.status,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "percentage_done": round(j.percentage, 1),
        "epochs_completed": epochs_done,
        "steps_completed": steps_done,
        "steps_per_epoch": j.steps_per_epoch,
        "status_logs": [log.dump() for log in j.logs],
        "elapsed_time": 0.0 if j.allocated is None else round((j.finished or time.monotonic()) - j.allocated, 2),
    }
    if steps_done:
        loss = 2.0 / (1.0 + steps_done / max(j.steps_per_epoch, 1))
        out.update(train_loss=round(loss, 4), val_loss=round(loss * 1.05, 4), best_epoch=max(epochs_done - 1, 0))
    return out


def job_json(j: CustomizationJob) -> dict[str, Any]:
    body = j.body
    return {
        "id": j.id,
        "namespace": body.get("namespace") or body["config"].split("/")[0],
        "name": body.get("name"),
        "description": body.get("description"),
        "config": body["config"],
        "dataset": body["dataset"],
        "hyperparameters": body["hyperparameters"],
        "output_model": j.output_model,
        "custom_fields": body.get("custom_fields") or {},
        "status": j.status,
        "status_details": status_json(j),
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "project": body.get("project"),
    }


@router.get(C + "/jobs", name="customization.jobs.list")
async def list_jobs(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    return page([job_json(j) for j in _platform(request).custom_jobs.values()], page_no, page_size)


def _job(request: Request, job_id: str) -> CustomizationJob:
    j = _platform(request).custom_jobs.get(job_id)
    if j is None:
        raise http_error(404, f"Customization job '{job_id}' not found")
    return j


@router.get(C + "/jobs/{job_id}", name="customization.jobs.get")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    return job_json(_job(request, job_id))


@router.get(C + "/jobs/{job_id}/status", name="customization.status")
async def job_status(job_id: str, request: Request) -> dict[str, Any]:
    return status_json(_job(request, job_id))


async def _cancel(job_id: str, request: Request) -> dict[str, Any]:
    j = _job(request, job_id)
    if j.status in TERMINAL:
        raise http_error(409, f"Customization job '{job_id}' is already {j.status}")
    j.finished = time.monotonic()
    j.status, j.updated_at = "cancelled", now_iso()
    j.logs.append(_log("Cancelled"))
    _platform(request).tick()
    return job_json(j)


@router.post(C + "/jobs/{job_id}/cancel", name="customization.cancel")
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    return await _cancel(job_id, request)


@router.post("/v1/customizations/{job_id}/cancel", name="customization.cancel_legacy")
async def cancel_job_legacy(job_id: str, request: Request) -> dict[str, Any]:
    """The path the reference blueprint calls (a defect there); served so both spellings work."""
    return await _cancel(job_id, request)
