"""``create_app()``: the NeMo platform emulator as one FastAPI app (NeMo base URL, NIM proxy, Data Store).

Served paths (endpoint ids, used by faults and ``/emulator/stats``, in brackets):
- Entity Store: ``POST/GET /v1/namespaces``, ``GET/DELETE /v1/namespaces/{ns}`` [namespaces.*];
  ``POST/GET /v1/datasets``, ``GET/PATCH/DELETE /v1/datasets/{ns}/{name}`` [datasets.*];
  ``GET/DELETE /v1/models/{model id with / and @}`` [models.get, models.delete].
- Data Store: ``POST/GET /v1/datastore/namespaces`` (form ``namespace=``); HF API under ``/v1/hf``:
  ``api/repos/create``, ``api/repos/delete``, ``api/datasets/{ns}/{name}[/revision/{rev}]``,
  ``.../preupload/{rev}``, ``.../commit/{rev}`` (ndjson), ``.../tree/{rev}[/{path}]``,
  ``datasets/{ns}/{name}.git/info/lfs/objects/batch``, ``lfs/objects/{oid}`` (PUT), ``lfs/verify``,
  ``GET/HEAD datasets/{ns}/{name}/resolve/{rev}/{path}``; Xet token paths answer 501 [hf.*].
- DMS: ``POST/GET /v1/deployment/model-deployments``, ``GET/DELETE .../{ns}/{name}`` [deployments.*].
- NIM proxy: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/embeddings`` [nim.*].
- Customizer: ``/v1/customization/configs[/{ns}/{name}]``, ``/v1/customization/targets[/{ns}/{name}]``,
  ``/v1/customization/jobs[/{id}]``, ``.../{id}/status``, ``POST .../{id}/cancel`` (and the reference's
  ``/v1/customizations/{id}/cancel``) [customization.*].
- Evaluator: ``POST/GET /v1/evaluation/jobs``, ``GET/DELETE .../{id}``, ``.../{id}/status``,
  ``.../{id}/results``, ``POST .../{id}/cancel`` [evaluation.*].
- Helix v2 (what needs a GPU cluster): ``/apis/models/v2/workspaces/{ws}/deployment-configs[/{name}]``,
  ``.../deployments[/{name}]`` [v2.deployment_configs.*, v2.deployments.*];
  ``/apis/customization/v2/workspaces/{ws}/automodel/jobs[/{name}[/status|/cancel]]`` [v2.automodel.*].
- Control: ``GET /emulator/stats``, ``POST /emulator/stats/reset-max``, ``POST /emulator/reset``,
  ``GET/POST/DELETE /emulator/faults``, ``GET /emulator/endpoints``.
"""

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
        routes_v2_automodel,
        routes_v2_deployments,
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
    for module in (
        routes_emulator,
        routes_datastore,
        routes_dms,
        routes_customizer,
        routes_evaluator,
        routes_nim,
        routes_v2_deployments,
        routes_v2_automodel,
        routes_entity,
    ):  # entity last: its /v1/models/{id:path} must not shadow other routes
        app.include_router(module.router)
    return app
