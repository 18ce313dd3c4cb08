"""Entity Store: namespaces, datasets, model entities."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.util import http_error, new_id, now_iso, page

router = APIRouter(route_class=EmulatorRoute)
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][\w.@+-]*$")]


class NamespaceIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: Name
    description: str | None = None
    custom_fields: dict[str, Any] | None = None


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Name
    namespace: Name = "default"
    files_url: Annotated[str, Field(min_length=1)]
    description: str | None = None
    project: str | None = None
    format: str | None = None
    custom_fields: dict[str, Any] | None = None


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    files_url: str | None = None
    description: str | None = None
    project: str | None = None
    custom_fields: dict[str, Any] | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


@router.post("/v1/namespaces", name="namespaces.create", status_code=201)
async def create_namespace(body: NamespaceIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    if body.id in p.namespaces:
        raise http_error(409, f"Namespace '{body.id}' already exists")
    ts = now_iso()
    p.namespaces[body.id] = {**body.model_dump(exclude_none=True), "created_at": ts, "updated_at": ts}
    return p.namespaces[body.id]


@router.get("/v1/namespaces", name="namespaces.list")
async def list_namespaces(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    return page(list(_platform(request).namespaces.values()), page_no, page_size)


@router.get("/v1/namespaces/{namespace}", name="namespaces.get")
async def get_namespace(namespace: str, request: Request) -> dict[str, Any]:
    ns = _platform(request).namespaces.get(namespace)
    if ns is None:
        raise http_error(404, f"Namespace '{namespace}' not found")
    return ns


@router.delete("/v1/namespaces/{namespace}", name="namespaces.delete")
async def delete_namespace(namespace: str, request: Request) -> dict[str, Any]:
    if _platform(request).namespaces.pop(namespace, None) is None:
        raise http_error(404, f"Namespace '{namespace}' not found")
    return {"id": namespace, "deleted_at": now_iso(), "message": "Resource deleted successfully."}


@router.post("/v1/datasets", name="datasets.create")
async def create_dataset(body: DatasetIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    key = f"{body.namespace}/{body.name}"
    if key in p.datasets:
        raise http_error(409, f"Dataset '{key}' already exists")
    ts = now_iso()
    p.datasets[key] = {
        **body.model_dump(exclude_none=True),
        "id": new_id("dataset"),
        "created_at": ts,
        "updated_at": ts,
    }
    return p.datasets[key]


@router.get("/v1/datasets", name="datasets.list")
async def list_datasets(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    ns = request.query_params.get("filter[namespace]")
    items = [d for d in _platform(request).datasets.values() if ns is None or d["namespace"] == ns]
    return page(items, page_no, page_size)


def _dataset(request: Request, namespace: str, name: str) -> dict[str, Any]:
    d = _platform(request).datasets.get(f"{namespace}/{name}")
    if d is None:
        raise http_error(404, f"Dataset '{namespace}/{name}' not found")
    return d


@router.get("/v1/datasets/{namespace}/{name}", name="datasets.get")
async def get_dataset(namespace: str, name: str, request: Request) -> dict[str, Any]:
    return _dataset(request, namespace, name)


@router.patch("/v1/datasets/{namespace}/{name}", name="datasets.update")
async def update_dataset(namespace: str, name: str, body: DatasetPatch, request: Request) -> dict[str, Any]:
    d = _dataset(request, namespace, name)
    changes = body.model_dump(exclude_none=True)
    for fixed in ("name", "namespace"):
        changes.pop(fixed, None)
    d.update(changes, updated_at=now_iso())
    return d


@router.delete("/v1/datasets/{namespace}/{name}", name="datasets.delete")
async def delete_dataset(namespace: str, name: str, request: Request) -> dict[str, Any]:
    d = _dataset(request, namespace, name)
    del _platform(request).datasets[f"{namespace}/{name}"]
    return {"id": d["id"], "deleted_at": now_iso(), "message": "Resource deleted successfully."}


@router.get("/v1/models/{model_id:path}", name="models.get")
async def get_model(model_id: str, request: Request) -> dict[str, Any]:
    entity = _platform(request).model_entities.get(model_id)
    if entity is None:
        raise http_error(404, f"Model '{model_id}' not found")
    return entity


class ModelPatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    description: str | None = None
    custom_fields: dict[str, Any] | None = None


@router.patch("/v1/models/{model_id:path}", name="models.update")
async def update_model(model_id: str, body: ModelPatch, request: Request) -> dict[str, Any]:
    entity = _platform(request).model_entities.get(model_id)
    if entity is None:
        raise http_error(404, f"Model '{model_id}' not found")
    changes = body.model_dump(exclude_none=True)
    for fixed in ("id", "name", "namespace"):
        changes.pop(fixed, None)
    entity.update(changes, updated_at=now_iso())
    return entity


@router.delete("/v1/models/{model_id:path}", name="models.delete")
async def delete_model(model_id: str, request: Request) -> JSONResponse:
    p = _platform(request)
    if p.model_entities.pop(model_id, None) is None:
        raise http_error(404, f"Model '{model_id}' not found")
    return JSONResponse({"id": model_id, "deleted_at": now_iso(), "message": "Resource deleted successfully."})
