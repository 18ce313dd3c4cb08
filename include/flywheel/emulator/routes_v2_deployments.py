"""Helix v2 model deployments on the emulated GPU pool (real Helix needs Docker/Kubernetes and GPUs).

``/apis/models/v2/workspaces/{ws}/deployment-configs[/{name}]`` and ``.../deployments[/{name}]``
[v2.deployment_configs.*, v2.deployments.*]. A deployment walks ``CREATED → PENDING → READY | ERROR``
on the same clock, GPU pool and faults as DMS deployments; a READY one is served by the NIM routes
under ``<model_namespace>/<model_name>``. Request bodies are checked with the fields Helix accepts
(unknown fields are refused, so drift in our adapter shows up here and in the fidelity test).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.state import Deployment
from flywheel.emulator.util import helix_name_check, http_error, new_id, now_iso
from flywheel.platforms.marks import read_marks

router = APIRouter(route_class=EmulatorRoute)
BASE = "/apis/models/v2/workspaces/{workspace}"
HelixName = Annotated[str, AfterValidator(helix_name_check)]
STATUS = {"pending": "PENDING", "running": "PENDING", "ready": "READY", "failed": "ERROR"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpecIn(_Strict):
    model_type: str | None = None
    model_namespace: str | None = None
    model_name: str | None = None
    model_revision: str | None = None
    chat_template: str | None = None
    tool_call_config: dict[str, Any] | None = None
    lora_enabled: bool = False


class ExecutorIn(_Strict):
    gpu: Annotated[int, Field(ge=0, le=64)]
    disk_size: str = "50Gi"
    image_name: str | None = None
    image_tag: str | None = None
    health_check_path: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    additional_envs: dict[str, str] | None = None
    additional_args: list[str] = Field(default_factory=list)
    k8s_nim_operator_config: dict[str, Any] | None = None
    override_config: dict[str, Any] | None = None


class DeploymentConfigIn(_Strict):
    name: HelixName
    project: str | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    engine: Literal["nim", "vllm", "generic"]
    model_spec: ModelSpecIn
    executor_config: ExecutorIn
    model_entity_id: str | None = None


class DeploymentIn(_Strict):
    name: HelixName
    project: str | None = None
    config: Annotated[str, Field(max_length=255)]
    config_version: int | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


def config_json(workspace: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"workspace": workspace, "project": None, "entity_version": 1, **body}


def deployment_json(d: Deployment) -> dict[str, Any]:
    status = STATUS.get(d.status, "PENDING")
    if d.status in ("pending", "running") and time.monotonic() - d.created < _created_s(d):
        status = "CREATED"
    history = d.body.setdefault("_history", [])
    if not history or history[-1]["status"] != status:
        history.append({"timestamp": now_iso(), "status": status, "status_message": d.description})
    return {
        "id": d.body["_id"],
        "name": d.name,
        "workspace": d.namespace,
        "project": None,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "entity_version": 1,
        "config": d.body["config"],
        "config_version": 1,
        "status": status,
        "status_message": d.description,
        "status_history": list(history),
        "model_provider_id": None,
    }


def _created_s(d: Deployment) -> float:
    return float(d.body.get("_created_s", 0.0))


@router.post(BASE + "/deployment-configs", name="v2.deployment_configs.create", status_code=201)
async def create_config(workspace: str, body: DeploymentConfigIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    key = f"{workspace}/{body.name}"
    if key in p.v2_configs:
        raise http_error(409, f"ModelDeploymentConfig '{key}' already exists")
    now = now_iso()
    stored = {"id": new_id("model-deployment-config"), "created_at": now, "updated_at": now}
    stored.update(body.model_dump(mode="json"))
    p.v2_configs[key] = stored
    return config_json(workspace, stored)


@router.get(BASE + "/deployment-configs/{name}", name="v2.deployment_configs.get")
async def get_config(workspace: str, name: str, request: Request) -> dict[str, Any]:
    found = _platform(request).v2_configs.get(f"{workspace}/{name}")
    if found is None:
        raise http_error(404, f"ModelDeploymentConfig '{workspace}/{name}' not found")
    return config_json(workspace, found)


@router.delete(BASE + "/deployment-configs/{name}", name="v2.deployment_configs.delete", status_code=204)
async def delete_config(workspace: str, name: str, request: Request) -> Response:
    p = _platform(request)
    key = f"{workspace}/{name}"
    if key not in p.v2_configs:
        raise http_error(404, f"ModelDeploymentConfig '{key}' not found")
    if any(d.namespace == workspace and d.body["config"] == name for d in p.v2_deployments.values()):
        raise http_error(409, f"ModelDeploymentConfig '{key}' is used by a deployment")
    del p.v2_configs[key]
    return Response(status_code=204)


@router.post(BASE + "/deployments", name="v2.deployments.create", status_code=201)
async def create_deployment(workspace: str, body: DeploymentIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    key = f"{workspace}/{body.name}"
    if key in p.v2_deployments:
        raise http_error(409, f"ModelDeployment '{key}' already exists")
    config = p.v2_configs.get(f"{workspace}/{body.config}")
    if config is None:
        raise http_error(422, f"ModelDeploymentConfig '{workspace}/{body.config}' not found")
    spec = config["model_spec"]
    if not spec.get("model_namespace") or not spec.get("model_name"):
        raise http_error(422, "model_spec needs model_namespace and model_name")
    model = f"{spec['model_namespace']}/{spec['model_name']}"
    gpus = max(int(config["executor_config"]["gpu"]), 1)
    failure, slow = p.faults.bind_job("deployment", {model})
    marks = read_marks(config.get("description")) or {}
    stored = {
        "_id": new_id("model-deployment"),
        "config": body.config,
        "custom_fields": marks,  # so the pool's live-candidate count sees our marks
        "_created_s": p.settings.job_created_s,
    }
    d = Deployment(workspace, body.name, model, gpus, stored, time.monotonic(), failure=failure, slow=slow)
    p.v2_deployments[key] = d
    p.created["deployment"] += 1
    p.tick()
    return deployment_json(d)


@router.get(BASE + "/deployments", name="v2.deployments.list")
async def list_deployments(workspace: str, request: Request) -> dict[str, Any]:
    items = [deployment_json(d) for d in _platform(request).v2_deployments.values() if d.namespace == workspace]
    return {
        "data": items,
        "pagination": {
            "page": 1,
            "page_size": max(len(items), 1),
            "current_page_size": len(items),
            "total_pages": 1,
            "total_results": len(items),
        },
        "sort": "-created_at",
        "filter": None,
    }


def _get(request: Request, workspace: str, name: str) -> Deployment:
    d = _platform(request).v2_deployments.get(f"{workspace}/{name}")
    if d is None:
        raise http_error(404, f"ModelDeployment '{workspace}/{name}' not found")
    return d


@router.get(BASE + "/deployments/{name}", name="v2.deployments.get")
async def get_deployment(workspace: str, name: str, request: Request) -> dict[str, Any]:
    return deployment_json(_get(request, workspace, name))


@router.delete(BASE + "/deployments/{name}", name="v2.deployments.delete", status_code=204)
async def delete_deployment(workspace: str, name: str, request: Request) -> Response:
    p = _platform(request)
    d = _get(request, workspace, name)
    del p.v2_deployments[d.key]
    p.tick()  # freed GPUs go to the next pending claim at once
    return Response(status_code=204)
