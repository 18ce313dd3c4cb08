"""Entity Store: namespaces, datasets, model entities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from flywheel.emulator.resources import (
    Dataset,
    DatasetIn,
    DatasetPatch,
    ModelEntity,
    ModelPatch,
    Namespace,
    NamespaceIn,
)
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.util import Page, http_error, new_id, now_iso, paged

router = APIRouter(route_class=EmulatorRoute)


class Deleted(BaseModel):
    id: str
    deleted_at: str
    message: str = "Resource deleted successfully."


@router.post("/v1/namespaces", name="namespaces.create", status_code=201)
async def create_namespace(body: NamespaceIn, request: Request) -> Namespace:
    p = platform_of(request)
    if body.id in p.namespaces:
        raise http_error(409, f"Namespace '{body.id}' already exists")
    ts = now_iso()
    p.namespaces[body.id] = ns = Namespace.model_validate({**body.model_dump(), "created_at": ts, "updated_at": ts})
    return ns


@router.get("/v1/namespaces", name="namespaces.list")
async def list_namespaces(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[Namespace]:
    return paged(list(platform_of(request).namespaces.values()), page_no, page_size)


@router.get("/v1/namespaces/{namespace}", name="namespaces.get")
async def get_namespace(namespace: str, request: Request) -> Namespace:
    ns = platform_of(request).namespaces.get(namespace)
    if ns is None:
        raise http_error(404, f"Namespace '{namespace}' not found")
    return ns


@router.delete("/v1/namespaces/{namespace}", name="namespaces.delete")
async def delete_namespace(namespace: str, request: Request) -> Deleted:
    if platform_of(request).namespaces.pop(namespace, None) is None:
        raise http_error(404, f"Namespace '{namespace}' not found")
    return Deleted(id=namespace, deleted_at=now_iso())


@router.post("/v1/datasets", name="datasets.create")
async def create_dataset(body: DatasetIn, request: Request) -> Dataset:
    p = platform_of(request)
    key = f"{body.namespace}/{body.name}"
    if key in p.datasets:
        raise http_error(409, f"Dataset '{key}' already exists")
    ts = now_iso()
    fields = {**body.model_dump(), "id": new_id("dataset"), "created_at": ts, "updated_at": ts}
    p.datasets[key] = dataset = Dataset.model_validate(fields)
    return dataset


@router.get("/v1/datasets", name="datasets.list")
async def list_datasets(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> Page[Dataset]:
    ns = request.query_params.get("filter[namespace]")
    items = [d for d in platform_of(request).datasets.values() if ns is None or d.namespace == ns]
    return paged(items, page_no, page_size)


def _dataset(request: Request, namespace: str, name: str) -> Dataset:
    d = platform_of(request).datasets.get(f"{namespace}/{name}")
    if d is None:
        raise http_error(404, f"Dataset '{namespace}/{name}' not found")
    return d


@router.get("/v1/datasets/{namespace}/{name}", name="datasets.get")
async def get_dataset(namespace: str, name: str, request: Request) -> Dataset:
    return _dataset(request, namespace, name)


@router.patch("/v1/datasets/{namespace}/{name}", name="datasets.update")
async def update_dataset(namespace: str, name: str, body: DatasetPatch, request: Request) -> Dataset:
    d = _dataset(request, namespace, name)
    body.apply(d, fixed=("name", "namespace"))
    d.updated_at = now_iso()
    return d


@router.delete("/v1/datasets/{namespace}/{name}", name="datasets.delete")
async def delete_dataset(namespace: str, name: str, request: Request) -> Deleted:
    d = _dataset(request, namespace, name)
    del platform_of(request).datasets[f"{namespace}/{name}"]
    return Deleted(id=d.id, deleted_at=now_iso())


def _model(request: Request, model_id: str) -> ModelEntity:
    entity = platform_of(request).model_entities.get(model_id)
    if entity is None:
        raise http_error(404, f"Model '{model_id}' not found")
    return entity


@router.get("/v1/models/{model_id:path}", name="models.get")
async def get_model(model_id: str, request: Request) -> ModelEntity:
    return _model(request, model_id)


@router.patch("/v1/models/{model_id:path}", name="models.update")
async def update_model(model_id: str, body: ModelPatch, request: Request) -> ModelEntity:
    entity = _model(request, model_id)
    body.apply(entity, fixed=("id", "name", "namespace"))
    entity.updated_at = now_iso()
    return entity


@router.delete("/v1/models/{model_id:path}", name="models.delete")
async def delete_model(model_id: str, request: Request) -> JSONResponse:
    if platform_of(request).model_entities.pop(model_id, None) is None:
        raise http_error(404, f"Model '{model_id}' not found")
    return JSONResponse(Deleted(id=model_id, deleted_at=now_iso()).model_dump())
