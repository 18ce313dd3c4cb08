"""Emulator control: stats (and a reset of their maxima), reset, faults, endpoint ids."""

from __future__ import annotations

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, JsonValue, ValidationError

from flywheel.emulator.faults import FAULT_LIST
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.state import Stats
from flywheel.emulator.util import http_error

router = APIRouter(route_class=EmulatorRoute)


class ResetDone(BaseModel):
    status: str = "reset"


@router.get("/emulator/stats", name="emulator.stats")
async def stats(request: Request) -> Stats:
    return platform_of(request).stats()


@router.post("/emulator/stats/reset-max", name="emulator.stats.reset_max")
async def reset_max(request: Request) -> Stats:
    """Start ``max_gpus_in_use`` and ``max_live_flywheel_deployments`` again from what is in use now."""
    p = platform_of(request)
    p.reset_max()
    return p.stats()


@router.post("/emulator/reset", name="emulator.reset")
async def reset(request: Request) -> ResetDone:
    """Drop every entity, job, deployment, counter and maximum (the fault list stays)."""
    platform_of(request).reset()
    return ResetDone()


@router.get("/emulator/faults", name="emulator.faults.get")
async def get_faults(request: Request) -> list[dict[str, object]]:
    return platform_of(request).faults.dump()


@router.post("/emulator/faults", name="emulator.faults.set")
async def set_faults(request: Request, faults: list[JsonValue] = Body(...)) -> list[dict[str, object]]:
    try:
        parsed = FAULT_LIST.validate_python(faults)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise http_error(422, f"invalid fault list: {problems}") from exc
    platform_of(request).faults.replace(parsed)
    return platform_of(request).faults.dump()


@router.delete("/emulator/faults", name="emulator.faults.clear")
async def clear_faults(request: Request) -> list[dict[str, object]]:
    platform_of(request).faults.clear()
    return []


@router.get("/emulator/endpoints", name="emulator.endpoints")
async def endpoints(request: Request) -> list[str]:
    names = {getattr(r, "name", "") for r in request.app.routes}
    return sorted(n for n in names if n and "." in n and not n.startswith("emulator."))
