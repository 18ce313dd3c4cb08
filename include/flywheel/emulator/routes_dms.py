"""Deployment Management Service: NIM model deployments on the emulated GPU pool."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.jobs import DmsDeployment
from flywheel.emulator.resources import JsonFields
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.util import Page, http_error, now_iso, paged

router = APIRouter(route_class=EmulatorRoute)
BASE = "/v1/deployment/model-deployments"
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][\w.-]*$")]


class NimDeploymentIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    image_name: str | None = None
    image_tag: str | None = None
    pvc_size: str | None = None
    gpu: Annotated[int, Field(ge=1, le=64)] | None = None
    additional_envs: dict[str, str] | None = None


class DeploymentConfigIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1)]
    nim_deployment: NimDeploymentIn | None = None


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Name
    namespace: Name
    config: DeploymentConfigIn
    custom_fields: JsonFields | None = None
    description: str | None = None
    models: list[str] | None = None
    async_enabled: bool | None = None
    project: str | None = None


class StatusDetails(BaseModel):
    status: str
    description: str


class ModelDeployment(BaseModel):
    """A DMS model deployment as the service answers it."""

    name: str
    namespace: str
    config: JsonFields
    status_details: StatusDetails
    url: str
    deployed: bool
    models: list[str]
    custom_fields: JsonFields
    description: str | None
    async_enabled: bool
    project: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, d: DmsDeployment, request: Request) -> ModelDeployment:
        return cls(
            name=d.name,
            namespace=d.namespace,
            config={**d.config, "name": d.name, "namespace": d.namespace},
            status_details=StatusDetails(status=d.status, description=d.status_message),
            url=f"{str(request.base_url).rstrip('/')}/v1/deployments/{d.namespace}/{d.name}",
            deployed=d.status == "ready",
            models=d.models or [d.model],
            custom_fields=d.custom_fields,
            description=d.description,
            async_enabled=d.async_enabled,
            project=d.project,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


@router.post(BASE, name="deployments.create")
async def create_deployment(body: DeploymentIn, request: Request) -> ModelDeployment:
    p = platform_of(request)
    key = f"{body.namespace}/{body.name}"
    if key in p.deployments:
        raise http_error(409, f"model deployment already exists: {key}")
    gpus = (body.config.nim_deployment.gpu if body.config.nim_deployment else None) or 1
    failure, slow = p.faults.bind_job("deployment", {body.config.model})
    d = DmsDeployment(
        body.namespace,
        body.name,
        body.config.model,
        gpus,
        time.monotonic(),
        failure=failure,
        slow=slow,
        config=body.config.model_dump(exclude_none=True),
        models=body.models or [],
        custom_fields=body.custom_fields or {},
        description=body.description,
        async_enabled=bool(body.async_enabled),
        project=body.project,
    )
    p.deployments[key] = d
    p.created["deployment"] += 1
    p.tick()
    return ModelDeployment.of(d, request)


@router.get(BASE, name="deployments.list")
async def list_deployments(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[ModelDeployment]:
    q = request.query_params
    items = []
    for d in platform_of(request).deployments.values():
        if q.get("filter[namespace]") not in (None, d.namespace) or q.get("filter[name]") not in (None, d.name):
            continue
        items.append(ModelDeployment.of(d, request))
    return paged(items, page_no, page_size)


def _get(request: Request, namespace: str, deployment_name: str) -> DmsDeployment:
    d = platform_of(request).deployments.get(f"{namespace}/{deployment_name}")
    if d is None:
        raise http_error(404, f"model deployment not found: {namespace}/{deployment_name}")
    return d


@router.get(BASE + "/{namespace}/{deployment_name}", name="deployments.get")
async def get_deployment(namespace: str, deployment_name: str, request: Request) -> ModelDeployment:
    return ModelDeployment.of(_get(request, namespace, deployment_name), request)


@router.delete(BASE + "/{namespace}/{deployment_name}", name="deployments.delete")
async def delete_deployment(namespace: str, deployment_name: str, request: Request) -> JSONResponse:
    p = platform_of(request)
    d = _get(request, namespace, deployment_name)
    del p.deployments[d.key]
    p.tick()  # freed GPUs go to the next pending claim at once
    return JSONResponse({"id": d.key, "deleted_at": now_iso(), "message": "Resource deleted successfully."})
