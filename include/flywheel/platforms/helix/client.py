"""``HelixClient``: the Helix v2 operations (:mod:`flywheel.platforms.helix.ops`) driven over the sync
transport, for callers that speak Helix itself (the stand-in setup, benchmarks, tests). The port's
adapter (:mod:`flywheel.platforms.helix.adapter`) drives the same operations, sync and async.
Airflow-free; the Helix SDK is never imported (it needs Python ≥ 3.12 and ~340 packages): tests validate
these payloads against its types instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flywheel.jsontypes import JsonObject
from flywheel.platforms.core.http import Flow, SyncHttp, T, bearer
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.helix.ops import CREATED_GRACE_S, CREATED_POLL_S, HelixOps, conflict_pause_s
from flywheel.platforms.helix.payloads import ModelTarget

__all__ = ["CREATED_GRACE_S", "CREATED_POLL_S", "HelixClient", "conflict_pause_s"]


class HelixClient:
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
        self.ops = HelixOps(base_url, workspace, gpu_base_url)
        self.base_url, self.gpu_base_url, self.workspace = self.ops.base_url, self.ops.gpu_base_url, workspace
        self.paths = self.ops.paths
        self.http = SyncHttp(timeout_s, policy or RetryPolicy(), headers=bearer(api_key))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HelixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, flow: Flow[T]) -> T:
        return self.http.run(flow)

    def write_reread(self, write: Callable[[], Flow[T]]) -> T:
        return self.run(self.ops.write_reread(write))

    def ensure_workspace(self, description: str = "") -> JsonObject:
        return self.run(self.ops.ensure_workspace(description))

    def put_secret(self, name: str, value: str, description: str) -> str:
        return self.run(self.ops.put_secret(name, value, description))

    def upload(self, fileset: str, path: str, content: bytes) -> str:
        return self.run(self.ops.upload(fileset, path, content))

    def upload_files(self, fileset: str, files: Mapping[str, bytes], description: str = "") -> str:
        return self.run(self.ops.upload_files(fileset, files, description))

    def register_provider(self, body: JsonObject) -> JsonObject:
        return self.run(self.ops.register_provider(body))

    def provider(self, name: str) -> JsonObject | None:
        return self.run(self.ops.provider(name))

    def providers(self) -> list[JsonObject]:
        return self.run(self.ops.providers())

    def served_entity(self, provider: str, model: str) -> str | None:
        return self.run(self.ops.served_entity(provider, model))

    def delete_provider(self, name: str, *, only_ours: bool = True) -> bool:
        return self.run(self.ops.delete_provider(name, only_ours=only_ours))

    def create_deployment(self, config_body: JsonObject, name: str) -> DeploymentInfo:
        return self.run(self.ops.create_deployment(config_body, name))

    def deployment(self, name: str) -> DeploymentInfo | None:
        return self.run(self.ops.deployment(name))

    def deployments(self) -> list[DeploymentInfo]:
        return self.run(self.ops.deployments())

    def delete_deployment(self, name: str, *, only_ours: bool = True) -> bool:
        return self.run(self.ops.delete_deployment(name, only_ours=only_ours))

    def start_customization(self, body: JsonObject) -> str:
        return self.run(self.ops.start_customization(body))

    def customization(self, name: str) -> JsonObject:
        return self.run(self.ops.customization(name))

    def customization_state(self, name: str) -> JobState:
        return self.run(self.ops.customization_state(name))

    def cancel_customization(self, name: str) -> JobState | None:
        return self.run(self.ops.cancel_customization(name))

    def start_evaluation(self, body: JsonObject) -> str:
        return self.run(self.ops.start_evaluation(body))

    def evaluation_job(self, name: str) -> JsonObject | None:
        return self.run(self.ops.evaluation_job(name))

    def evaluation_state(self, name: str) -> JobState:
        return self.run(self.ops.evaluation_state(name))

    def cancel_evaluation(self, name: str) -> JobState | None:
        return self.run(self.ops.cancel_evaluation(name))

    def eval_result(self, name: str) -> JsonObject:
        return self.run(self.ops.eval_result(name))

    def row_scores(self, name: str) -> list[JsonObject]:
        return self.run(self.ops.row_scores(name))

    def target(self, entity: str) -> ModelTarget:
        return self.ops.target(entity)

    def gateway_models(self) -> list[str]:
        return self.run(self.ops.gateway_models())

    def chat(self, model: str, messages: list[JsonObject], **extra: str | int | float) -> JsonObject:
        return self.run(self.ops.chat(model, messages, dict(extra)))

    def model_entity(self, workspace: str, name: str) -> JsonObject | None:
        return self.run(self.ops.model_entity(workspace, name))
