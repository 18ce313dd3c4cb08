"""``AsyncNemoClient``: the calls deferrable triggers make while polling, on ``httpx.AsyncClient``.

Same endpoints, parsing, timeout and retry policy as :class:`~flywheel.platforms.nmp.client.NemoClient`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flywheel.platforms.core.errors import NemoResponseError
from flywheel.platforms.core.http import AsyncHttp, Reply
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.nmp.endpoints import NemoEndpoints

log = logging.getLogger("flywheel.nemo")


def _obj(reply: Reply, what: str) -> dict[str, Any]:
    if not isinstance(reply.data, dict):
        raise NemoResponseError(
            f"{what}: expected a JSON object, got {type(reply.data).__name__}", status=reply.status, url=reply.url
        )
    return reply.data


class AsyncNemoClient:
    def __init__(
        self,
        endpoints: NemoEndpoints,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.namespace
        self.policy = policy or RetryPolicy(max_retries=endpoints.max_retries)
        self.http = AsyncHttp(endpoints.timeout_s, self.policy, endpoints.auth_headers(), sleep)

    async def __aenter__(self) -> AsyncNemoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    def __repr__(self) -> str:
        return f"AsyncNemoClient({self.endpoints!r})"

    def _base(self, path: str) -> str:
        return f"{self.endpoints.base_url}{path}"

    async def get_deployment(self, name: str) -> DeploymentInfo | None:
        reply = await self.http.call(
            "GET", self._base(f"/v1/deployment/model-deployments/{self.ns}/{name}"), allow=(404,)
        )
        if reply.status == 404:
            return None
        return DeploymentInfo.from_raw(_obj(reply, f"deployment {name}"))

    async def delete_deployment(self, name: str) -> bool:
        reply = await self.http.call(
            "DELETE", self._base(f"/v1/deployment/model-deployments/{self.ns}/{name}"), allow=(404,), parse=False
        )
        return reply.status != 404

    async def list_models(self) -> list[str]:
        reply = await self.http.call("GET", f"{self.endpoints.nim_url}/v1/models")
        data = _obj(reply, "list models").get("data")
        if not isinstance(data, list):
            raise NemoResponseError("model list has no 'data' array", status=reply.status, url=reply.url)
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    async def get_customization(self, job_id: str) -> JobState:
        reply = await self.http.call("GET", self._base(f"/v1/customization/jobs/{job_id}/status"))
        return JobState.from_customization(_obj(reply, f"customization {job_id}"))

    async def get_evaluation(self, job_id: str) -> JobState:
        reply = await self.http.call("GET", self._base(f"/v1/evaluation/jobs/{job_id}"))
        return JobState.from_evaluation(_obj(reply, f"evaluation {job_id}"))

    async def cancel_customization(self, job_id: str) -> None:
        await self._cancel(self._base(f"/v1/customization/jobs/{job_id}/cancel"), f"customization {job_id}")

    async def cancel_evaluation(self, job_id: str) -> None:
        await self._cancel(self._base(f"/v1/evaluation/jobs/{job_id}/cancel"), f"evaluation {job_id}")

    async def _cancel(self, url: str, what: str) -> None:
        reply = await self.http.call("POST", url, allow=(409,), parse=False)
        if reply.status == 409:
            log.info("%s already finished; nothing to cancel", what)
