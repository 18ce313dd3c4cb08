"""``AsyncHelixClient``: the Helix calls a deferrable trigger makes while polling (deployment, job states,
cancel, delete), on ``httpx.AsyncClient`` with the same paths, state mapping and retry policy as
:class:`~flywheel.platforms.helix.client.HelixClient`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from flywheel.nemo.endpoints import bearer
from flywheel.nemo.http import AsyncHttp, Reply
from flywheel.nemo.retry import RetryPolicy
from flywheel.nemo.states import DeploymentInfo, JobState
from flywheel.platforms.helix.client import CREATED_GRACE_S, CREATED_POLL_S, PROBE
from flywheel.platforms.helix.paths import HelixPaths
from flywheel.platforms.helix.states import deployment_info, job_state


class AsyncHelixClient:
    def __init__(
        self,
        base_url: str,
        workspace: str,
        *,
        timeout_s: float = 60.0,
        policy: RetryPolicy | None = None,
        api_key: str | None = None,
        gpu_base_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.gpu_base_url = (gpu_base_url or base_url).rstrip("/")
        self.workspace = workspace
        self.paths = HelixPaths(workspace)
        self.http = AsyncHttp(timeout_s, policy or RetryPolicy(), headers=bearer(api_key))

    async def __aenter__(self) -> AsyncHelixClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    async def _call(self, method: str, path: str, **kw: Any) -> Reply:
        base = self.gpu_base_url if self.paths.needs_gpu(path) else self.base_url
        return await self.http.call(method, base + path, **kw)

    async def deployment(self, name: str) -> DeploymentInfo | None:
        raw = await self._call("GET", self.paths.deployment(name), allow=(404,))
        if raw.status == 404:
            return None
        config = await self._call("GET", self.paths.deployment_config(raw.data["config"]), allow=(404,))
        return deployment_info(raw.data, None if config.status == 404 else config.data)

    async def delete_deployment(self, name: str) -> bool:
        """Delete a deployment of ours and its config (one without our mark is left alone)."""
        found = await self.deployment(name)
        if found is None or not found.custom_fields:
            return False
        deleted = (await self._call("DELETE", self.paths.deployment(name), allow=(404,), parse=False)).status
        await self._call("DELETE", self.paths.deployment_config(str(found.raw["config"])), allow=(404,), parse=False)
        return deleted != 404

    async def evaluation_state(self, name: str) -> JobState:
        return job_state((await self._call("GET", self.paths.evaluate_job(name) + "/status")).data, "evaluation")

    async def customization_state(self, name: str) -> JobState:
        reply = await self._call("GET", self.paths.automodel_job(name) + "/status")
        return job_state(reply.data, "customization")

    async def cancel_evaluation(self, name: str) -> JobState | None:
        return await self._cancel(self.paths.evaluate_job(name), "evaluation")

    async def cancel_customization(self, name: str) -> JobState | None:
        return await self._cancel(self.paths.automodel_job(name), "customization")

    async def _cancel(self, path: str, kind: str) -> JobState | None:
        """As :meth:`HelixClient._cancel`: a job still ``created`` first gets up to ``CREATED_GRACE_S``."""
        deadline = time.monotonic() + CREATED_GRACE_S
        while True:
            current = await self._call("GET", path + "/status", allow=(404,))
            if current.status == 404:
                return None
            state = job_state(current.data, kind)
            if state.terminal:
                return state
            if state.status != "created" or time.monotonic() >= deadline:
                return job_state((await self._call("POST", path + "/cancel")).data, kind)
            await asyncio.sleep(CREATED_POLL_S)

    # ------------------------------------------------------------------ what the adapter reads and writes
    async def provider(self, name: str) -> dict[str, Any] | None:
        reply = await self._call("GET", self.paths.provider(name), allow=(404,))
        return None if reply.status == 404 else reply.obj()

    async def providers(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", self.paths.providers())).obj().get("data") or [])

    async def register_provider(self, body: dict[str, Any]) -> None:
        """Create a provider; one already there (409, e.g. a retried trigger) is left as it is."""
        await self._call("POST", self.paths.providers(), json_body=body, allow=(409,))

    async def remove_provider(self, name: str) -> None:
        """Delete a provider (the caller checked it is ours); one already gone is fine."""
        await self._call("DELETE", self.paths.provider(name), allow=(404,), parse=False)

    async def set_provider_status(self, name: str, status: dict[str, Any]) -> None:
        await self._call("PUT", self.paths.provider_status(name), json_body=status)

    async def deployment_config(self, name: str) -> dict[str, Any]:
        return (await self._call("GET", self.paths.deployment_config(name))).obj()

    async def customization(self, name: str) -> dict[str, Any]:
        return (await self._call("GET", self.paths.automodel_job(name))).obj()

    async def gateway_models(self) -> list[str]:
        data = (await self._call("GET", self.paths.gateway_v1() + "/models")).obj()
        return [str(m["id"]) for m in data.get("data") or []]

    async def routes(self, model: str) -> bool:
        """The gateway routes ``model`` (a one-token chat is not a 404)."""
        body = {"model": model, "messages": PROBE, "max_tokens": 1}
        path = self.paths.gateway_v1() + "/chat/completions"
        return (await self._call("POST", path, json_body=body, allow=(404,))).status != 404
