"""Emulator control: stats, reset, faults, endpoint ids."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from pydantic import ValidationError

from flywheel.emulator.faults import FAULT_LIST
from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.util import http_error

router = APIRouter(route_class=EmulatorRoute)


@router.get("/emulator/stats", name="emulator.stats")
async def stats(request: Request) -> dict[str, Any]:
    return request.app.state.platform.stats()


@router.post("/emulator/reset", name="emulator.reset")
async def reset(request: Request) -> dict[str, Any]:
    """Drop every entity, job, deployment, counter and maximum (the fault list stays)."""
    request.app.state.platform.reset()
    return {"status": "reset"}


@router.get("/emulator/faults", name="emulator.faults.get")
async def get_faults(request: Request) -> list[dict[str, Any]]:
    return request.app.state.platform.faults.dump()


@router.post("/emulator/faults", name="emulator.faults.set")
async def set_faults(request: Request, faults: list[dict[str, Any]] = Body(...)) -> list[dict[str, Any]]:
    try:
        parsed = FAULT_LIST.validate_python(faults)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise http_error(422, f"invalid fault list: {problems}") from exc
    request.app.state.platform.faults.replace(parsed)
    return request.app.state.platform.faults.dump()


@router.delete("/emulator/faults", name="emulator.faults.clear")
async def clear_faults(request: Request) -> list[dict[str, Any]]:
    request.app.state.platform.faults.clear()
    return []


@router.get("/emulator/endpoints", name="emulator.endpoints")
async def endpoints(request: Request) -> list[str]:
    names = {getattr(r, "name", "") for r in request.app.routes}
    return sorted(n for n in names if n and "." in n and not n.startswith("emulator."))
