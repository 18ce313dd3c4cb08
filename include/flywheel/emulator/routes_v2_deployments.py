"""Helix v2 model deployments on the emulated GPU pool (real Helix needs Docker/Kubernetes and GPUs).

``/apis/models/v2/workspaces/{ws}/deployment-configs[/{name}]`` and ``.../deployments[/{name}]``
[v2.deployment_configs.*, v2.deployments.*]. A deployment walks ``CREATED → PENDING → READY | ERROR``
on the same clock, GPU pool and faults as DMS deployments; a READY one is served by the NIM routes
under ``<model_namespace>/<model_name>``. Request bodies are checked with the fields Helix accepts
(unknown fields are refused, so drift in our adapter shows up here and in the fidelity test).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.jobs import HelixDeployment
from flywheel.emulator.resources import DeploymentConfig, DeploymentConfigIn, HelixName, StatusEntry
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.util import HelixPage, http_error, new_id, now_iso
from flywheel.platforms.marks import read_marks

router = APIRouter(route_class=EmulatorRoute)
BASE = "/apis/models/v2/workspaces/{workspace}"
STATUS = {"pending": "PENDING", "running": "PENDING", "ready": "READY", "failed": "ERROR"}


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: HelixName
    project: str | None = None
    config: Annotated[str, Field(max_length=255)]
    config_version: int | None = None


class ModelDeployment(BaseModel):
    """A Helix v2 model deployment as the models service answers it."""

    id: str
    name: str
    workspace: str
    project: None = None
    created_at: str
    updated_at: str
    entity_version: int = 1
    config: str
    config_version: int = 1
    status: str
    status_message: str
    status_history: list[StatusEntry]
    model_provider_id: None = None

    @classmethod
    def of(cls, d: HelixDeployment) -> ModelDeployment:
        status = STATUS.get(d.status, "PENDING")
        if d.status in ("pending", "running") and time.monotonic() - d.created < d.created_s:
            status = "CREATED"
        if not d.history or d.history[-1].status != status:
            d.history.append(StatusEntry(timestamp=now_iso(), status=status, status_message=d.status_message))
        return cls(
            id=d.platform_id,
            name=d.name,
            workspace=d.namespace,
            created_at=d.created_at,
            updated_at=d.updated_at,
            config=d.config_name,
            status=status,
            status_message=d.status_message,
            status_history=list(d.history),
        )


@router.post(BASE + "/deployment-configs", name="v2.deployment_configs.create", status_code=201)
async def create_config(workspace: str, body: DeploymentConfigIn, request: Request) -> DeploymentConfig:
    p = platform_of(request)
    key = f"{workspace}/{body.name}"
    if key in p.v2_configs:
        raise http_error(409, f"ModelDeploymentConfig '{key}' already exists")
    now = now_iso()
    stored = DeploymentConfig.model_validate(
        {
            **body.model_dump(),
            "workspace": workspace,
            "id": new_id("model-deployment-config"),
            "created_at": now,
            "updated_at": now,
        }
    )
    p.v2_configs[key] = stored
    return stored


@router.get(BASE + "/deployment-configs/{name}", name="v2.deployment_configs.get")
async def get_config(workspace: str, name: str, request: Request) -> DeploymentConfig:
    found = platform_of(request).v2_configs.get(f"{workspace}/{name}")
    if found is None:
        raise http_error(404, f"ModelDeploymentConfig '{workspace}/{name}' not found")
    return found


@router.delete(BASE + "/deployment-configs/{name}", name="v2.deployment_configs.delete", status_code=204)
async def delete_config(workspace: str, name: str, request: Request) -> Response:
    p = platform_of(request)
    key = f"{workspace}/{name}"
    if key not in p.v2_configs:
        raise http_error(404, f"ModelDeploymentConfig '{key}' not found")
    if any(d.namespace == workspace and d.config_name == name for d in p.v2_deployments.values()):
        raise http_error(409, f"ModelDeploymentConfig '{key}' is used by a deployment")
    del p.v2_configs[key]
    return Response(status_code=204)


@router.post(BASE + "/deployments", name="v2.deployments.create", status_code=201)
async def create_deployment(workspace: str, body: DeploymentIn, request: Request) -> ModelDeployment:
    p = platform_of(request)
    key = f"{workspace}/{body.name}"
    if key in p.v2_deployments:
        raise http_error(409, f"ModelDeployment '{key}' already exists")
    config = p.v2_configs.get(f"{workspace}/{body.config}")
    if config is None:
        raise http_error(422, f"ModelDeploymentConfig '{workspace}/{body.config}' not found")
    spec = config.model_spec
    if not spec.model_namespace or not spec.model_name:
        raise http_error(422, "model_spec needs model_namespace and model_name")
    model = f"{spec.model_namespace}/{spec.model_name}"
    failure, slow = p.faults.bind_job("deployment", {model})
    d = HelixDeployment(
        workspace,
        body.name,
        model,
        max(config.executor_config.gpu, 1),
        time.monotonic(),
        failure=failure,
        slow=slow,
        platform_id=new_id("model-deployment"),
        config_name=body.config,
        marks=read_marks(config.description) or {},  # so the pool's live-candidate count sees our marks
        created_s=p.settings.job_created_s,
    )
    p.v2_deployments[key] = d
    p.created["deployment"] += 1
    p.tick()
    return ModelDeployment.of(d)


@router.get(BASE + "/deployments", name="v2.deployments.list")
async def list_deployments(workspace: str, request: Request) -> HelixPage[ModelDeployment]:
    items = [ModelDeployment.of(d) for d in platform_of(request).v2_deployments.values() if d.namespace == workspace]
    return HelixPage.of(items)


def _get(request: Request, workspace: str, name: str) -> HelixDeployment:
    d = platform_of(request).v2_deployments.get(f"{workspace}/{name}")
    if d is None:
        raise http_error(404, f"ModelDeployment '{workspace}/{name}' not found")
    return d


@router.get(BASE + "/deployments/{name}", name="v2.deployments.get")
async def get_deployment(workspace: str, name: str, request: Request) -> ModelDeployment:
    return ModelDeployment.of(_get(request, workspace, name))


@router.delete(BASE + "/deployments/{name}", name="v2.deployments.delete", status_code=204)
async def delete_deployment(workspace: str, name: str, request: Request) -> Response:
    p = platform_of(request)
    d = _get(request, workspace, name)
    del p.v2_deployments[d.key]
    p.tick()  # freed GPUs go to the next pending claim at once
    return Response(status_code=204)
