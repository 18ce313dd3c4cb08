"""``AsyncNemoClient``: the NMP 25.x adapter of the async port (deferrable triggers).

The same operations as :class:`~flywheel.platforms.nmp.client.NemoClient` (:mod:`flywheel.platforms.nmp.ops`),
driven over ``httpx.AsyncClient`` with the same timeout and retry policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from flywheel.platforms.core.http import AsyncHttp
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.specs import EvalRow, EvaluationResults
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.nmp.endpoints import NemoEndpoints
from flywheel.platforms.nmp.ops import NmpOps


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
        self.ops = NmpOps(endpoints, self.policy)

    async def __aenter__(self) -> AsyncNemoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    def __repr__(self) -> str:
        return f"AsyncNemoClient({self.endpoints!r})"

    async def get_deployment(self, name: str) -> DeploymentInfo | None:
        return await self.http.run(self.ops.get_deployment(name))

    async def delete_deployment(self, name: str) -> bool:
        return await self.http.run(self.ops.delete_deployment(name))

    async def list_models(self) -> list[str]:
        return await self.http.run(self.ops.list_models())

    async def get_customization(self, job_id: str) -> JobState:
        return await self.http.run(self.ops.get_customization(job_id))

    async def get_evaluation(self, job_id: str) -> JobState:
        return await self.http.run(self.ops.get_evaluation(job_id))

    async def evaluation_results(self, job_id: str) -> EvaluationResults:
        return await self.http.run(self.ops.evaluation_results(job_id))

    async def evaluation_rows(self, job_id: str) -> list[EvalRow]:
        return await self.http.run(self.ops.evaluation_rows(job_id))

    async def cancel_customization(self, job_id: str) -> None:
        await self.http.run(self.ops.cancel_customization(job_id))

    async def cancel_evaluation(self, job_id: str) -> None:
        await self.http.run(self.ops.cancel_evaluation(job_id))
