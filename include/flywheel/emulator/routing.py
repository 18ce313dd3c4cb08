"""The route class every emulator endpoint uses: counts the request, advances the clocks, applies faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from flywheel.emulator.state import Platform


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


class EmulatorRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Answers are models that know their wire shape (keys left out, request echoes); FastAPI would
        # re-validate them against the return annotation, so it only encodes them.
        kwargs["response_model"] = None
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        endpoint = self.name

        async def handler(request: Request) -> Response:
            platform = platform_of(request)
            platform.requests[endpoint] += 1
            platform.tick()
            if not endpoint.startswith("emulator."):
                decision = platform.faults.http(endpoint, await model_hint(request))
                if decision.latency_s:
                    await asyncio.sleep(decision.latency_s)
                if decision.error is not None:
                    fault = decision.error
                    headers = {"Retry-After": "1"} if fault.status == 429 else None
                    detail = fault.message or f"Injected fault: {endpoint} answers {fault.status}"
                    return JSONResponse({"detail": detail}, status_code=fault.status, headers=headers)
            return await original(request)

        return handler


async def model_hint(request: Request) -> str | None:
    """The model a request names, for model-restricted HTTP faults."""
    params = request.path_params
    for key in ("model_id",):
        if key in params:
            return str(params[key])
    if "deployment_name" in params:
        d = platform_of(request).deployments.get(f"{params.get('namespace')}/{params['deployment_name']}")
        return d.model if d else None
    if request.method not in ("POST", "PUT", "PATCH") or "json" not in request.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for path in (("model",), ("config", "model"), ("target", "model")):
        value: object = body
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None
