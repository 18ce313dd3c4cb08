"""``create_app()``: the NeMo platform emulator as one FastAPI app (NeMo base URL, NIM proxy, Data Store)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.state import Platform


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    from flywheel.emulator import (
        routes_customizer,
        routes_datastore,
        routes_dms,
        routes_emulator,
        routes_entity,
        routes_evaluator,
        routes_nim,
    )

    settings = settings or EmulatorSettings()
    platform = Platform(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def ticker() -> None:
            while True:
                await asyncio.sleep(settings.tick_s)
                platform.tick()

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="NeMo Microservices platform emulator", lifespan=lifespan)
    app.state.platform = platform
    app.state.settings = settings
    for module in (routes_emulator, routes_datastore, routes_dms, routes_customizer, routes_evaluator, routes_nim,
                   routes_entity):  # entity last: its /v1/models/{id:path} must not shadow other routes
        app.include_router(module.router)
    return app
