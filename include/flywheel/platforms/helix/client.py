"""The Helix v2 adapter: plain httpx through the flywheel's one HTTP layer (timeouts, retries, typed
errors), scoped to one workspace. Airflow-free; the Helix SDK is never imported (it needs Python ≥ 3.12
and ~340 packages): tests validate these payloads against its types instead.

Creations are idempotent by name: a 409 means the object is there already and is read back, so a retried
task never creates a second job or deployment.
"""

from __future__ import annotations

import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from flywheel.platforms.core.errors import (
    NemoAmbiguousError,
    NemoConflictError,
    NemoError,
    NemoNotFoundError,
    error_for_status,
    platform_message,
)
from flywheel.platforms.core.http import Reply, SyncHttp, bearer
from flywheel.platforms.core.retry import RetryPolicy, backoff_s
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.helix.paths import HelixPaths
from flywheel.platforms.helix.payloads import (
    ModelTarget,
    fileset_body,
    secret_body,
    secret_update_body,
    workspace_body,
)
from flywheel.platforms.helix.states import JOB_ACTIVE, deployment_info, job_state
from flywheel.platforms.marks import read_marks

# Helix 0.8.1 cancels a ``created`` job on the spot, even when its scheduler has just started the job's
# process: the scheduler's CREATED -> PENDING write is then refused and the process runs on, unseen, while
# the job reads ``cancelled``. Its scheduler moves a job on within seconds, so a cancel waits for that.
CREATED_GRACE_S = 15.0
CREATED_POLL_S = 0.5
# Helix writes use optimistic concurrency: a write racing another one (often Helix's own status update)
# is refused with 409 "Concurrent modification"; it is re-read and tried again.
CONFLICT_TRIES = 5
CONFLICT_PAUSE_S = 0.5
T = TypeVar("T")
_conflict_rng = random.Random()


def conflict_pause_s(attempt: int) -> float:
    """The wait before another write after a 409 (Helix's optimistic concurrency), by the one backoff formula."""
    return backoff_s(attempt, base_s=CONFLICT_PAUSE_S, cap_s=4.0, factor=2.0, jitter=0.5, rng=_conflict_rng)


# the one-token chat that tells whether the gateway routes a model (Helix lists no adapter names)
PROBE = [{"role": "user", "content": "ping"}]


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
        self.base_url = base_url.rstrip("/")
        # deployments and automodel jobs need a GPU cluster: on a laptop or in CI they can be served
        # elsewhere (the flywheel emulator's v2 routes) while everything else is the real Helix
        self.gpu_base_url = (gpu_base_url or base_url).rstrip("/")
        self.workspace = workspace
        self.paths = HelixPaths(workspace)
        self.http = SyncHttp(timeout_s, policy or RetryPolicy(), headers=bearer(api_key))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HelixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Reply:
        base = self.gpu_base_url if self.paths.needs_gpu(path) else self.base_url
        return self.http.call(method, base + path, **kw)

    def _create(self, path: str, body: dict[str, Any], read_back: str) -> dict[str, Any]:
        """POST ``body``; on 409 (already there, e.g. a retried task) the existing object."""
        try:
            return self._call("POST", path, json_body=body, idempotent=False).obj()
        except NemoConflictError:
            return self._call("GET", read_back).obj()

    def _delete(self, path: str) -> bool:
        """True when something was deleted, False when it was already gone. A conflict (another write got
        there first) is re-read: gone is gone, else the delete is tried again."""
        for attempt in range(CONFLICT_TRIES):
            try:
                return self._call("DELETE", path, allow=(404,), parse=False).status != 404
            except NemoConflictError:
                if attempt == CONFLICT_TRIES - 1:
                    raise
            if self._call("GET", path, allow=(404,)).status == 404:
                return False
            time.sleep(conflict_pause_s(attempt))
        raise AssertionError("unreachable")

    def write_reread(self, write: Callable[[], T]) -> T:
        """``write()`` (which reads what it needs first), again after a conflict (409), a few times."""
        for attempt in range(CONFLICT_TRIES):
            try:
                return write()
            except NemoConflictError:
                if attempt == CONFLICT_TRIES - 1:
                    raise
            time.sleep(conflict_pause_s(attempt))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ health
    def health(self) -> bool:
        """Helix answers /health/ready with 200 (one try, no retries: a health check reports, it does not wait)."""
        try:
            return self.http.client.get(self.base_url + "/health/ready").status_code == 200
        except httpx.HTTPError:
            return False

    # ------------------------------------------------------------------ workspace
    def ensure_workspace(self, description: str = "") -> dict[str, Any]:
        body = workspace_body(self.workspace, description)
        return self._create(self.paths.workspaces(), body, self.paths.workspace_path())

    def delete_workspace(self) -> bool:
        return self._delete(self.paths.workspace_path())

    # ------------------------------------------------------------------ secrets
    def put_secret(self, name: str, value: str, description: str) -> str:
        """Make the workspace secret ``name`` hold ``value``: ``created``, ``updated`` (its value differed)
        or ``unchanged``. Its current value is read through ``/access`` and compared here; where the caller
        may not read secrets, the value is written anyway. No error raised from here carries ``value``."""
        try:
            current = self._call("GET", self.paths.secret_access(name), allow=(403, 404))
            if current.status == 404:
                body = secret_body(name, value, description)
                created = self._call("POST", self.paths.secrets(), json_body=body, allow=(409,))
                if created.status != 409:
                    return "created"
            elif current.status == 200 and hmac.compare_digest(
                str((current.data or {}).get("value", "")).encode(), value.encode()
            ):
                return "unchanged"
            self._call("PATCH", self.paths.secret(name), json_body=secret_update_body(value, description))
            return "updated"
        except NemoError as err:
            raise _without(err, value) from None

    def secret(self, name: str) -> dict[str, Any] | None:
        """A secret's metadata (Helix never returns the value here), or None."""
        reply = self._call("GET", self.paths.secret(name), allow=(404,))
        return None if reply.status == 404 else reply.data

    def delete_secret(self, name: str) -> bool:
        return self._delete(self.paths.secret(name))

    # ------------------------------------------------------------------ filesets
    def ensure_fileset(self, name: str, description: str = "") -> dict[str, Any]:
        return self._create(self.paths.filesets(), fileset_body(name, description), self.paths.fileset(name))

    def upload(self, fileset: str, path: str, content: bytes) -> str:
        """PUT one file; returns its reference ``ws/fileset#path``. Retried as a whole (a PUT is idempotent)."""
        url = self.base_url + self.paths.fileset_file(fileset, path)
        attempt = 0
        while True:
            try:
                resp = self.http.client.put(url, content=content, headers={"content-type": "application/octet-stream"})
            except httpx.TransportError:
                if attempt >= self.http.policy.max_retries:
                    raise
            else:
                if resp.status_code < 400:
                    return str(resp.json()["file_ref"])
                if resp.status_code < 500 or attempt >= self.http.policy.max_retries:
                    raise error_for_status(resp.status_code, platform_message(resp.content), "PUT", url)
            time.sleep(self.http.policy.delay(attempt))
            attempt += 1

    def upload_files(self, fileset: str, files: Mapping[str, bytes], description: str = "") -> str:
        """Create the fileset if needed and upload ``files``; returns the fileset reference ``ws/fileset``."""
        self.ensure_fileset(fileset, description)
        for path, content in files.items():
            self.upload(fileset, path, content)
        return f"{self.workspace}/{fileset}"

    def list_files(self, fileset: str) -> list[str]:
        data = self._call("GET", self.paths.fileset_files(fileset)).data
        return sorted(str(f["path"]) for f in (data.get("data") or []))

    def delete_fileset(self, name: str) -> bool:
        return self._delete(self.paths.fileset(name))

    # ------------------------------------------------------------------ providers (already-served models)
    def register_provider(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(self.paths.providers(), body, self.paths.provider(body["name"]))

    def provider(self, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        reply = self._call("GET", self.paths.provider(name), allow=(404,))
        return None if reply.status == 404 else reply.data

    def served_entity(self, provider: str, model: str) -> str | None:
        """``ws/entity`` under which the gateway serves ``model`` of a provider, or None until it does: the
        provider is READY, lists the model, and the gateway answers for it (its virtual model reaches the
        gateway a few seconds after the provider turns READY)."""
        found = self.provider(provider)
        if found is None or str(found.get("status", "")).upper() != "READY":
            return None
        for served in found.get("served_models") or []:
            if served.get("served_model_name") == model:
                entity = str(served["model_entity_id"])
                if self._call("GET", self.paths.gateway_model(entity), allow=(404,)).status == 200:
                    return entity
        return None

    def delete_provider(self, name: str, *, only_ours: bool = True) -> bool:
        """Delete a provider we registered (``only_ours``: one without our mark is left alone)."""
        found = self.provider(name)
        if found is None or (only_ours and read_marks(found.get("description")) is None):
            return False
        return self._delete(self.paths.provider(name))

    def providers(self) -> list[dict[str, Any]]:
        return list(self._call("GET", self.paths.providers()).data.get("data") or [])

    # ------------------------------------------------------------------ deployments
    def create_deployment(self, config_body: dict[str, Any], name: str) -> DeploymentInfo:
        config = self._create(self.paths.deployment_configs(), config_body, self.paths.deployment_config(name))
        raw = self._create(
            self.paths.deployments(), {"name": name, "config": config_body["name"]}, self.paths.deployment(name)
        )
        return deployment_info(raw, config)

    def deployment(self, name: str) -> DeploymentInfo | None:
        raw = self._call("GET", self.paths.deployment(name), allow=(404,))
        if raw.status == 404:
            return None
        config = self._call("GET", self.paths.deployment_config(raw.data["config"]), allow=(404,))
        return deployment_info(raw.data, None if config.status == 404 else config.data)

    def deployments(self) -> list[DeploymentInfo]:
        out = []
        for raw in self._call("GET", self.paths.deployments()).data.get("data") or []:
            config = self._call("GET", self.paths.deployment_config(raw["config"]), allow=(404,))
            out.append(deployment_info(raw, None if config.status == 404 else config.data))
        return out

    def delete_deployment(self, name: str, *, only_ours: bool = True) -> bool:
        """Delete a deployment and its config; ``only_ours`` leaves one without our mark alone."""
        found = self.deployment(name)
        if found is None or (only_ours and not found.custom_fields):
            return False
        deleted = self._delete(self.paths.deployment(name))
        self._delete(self.paths.deployment_config(str(found.raw["config"])))
        return deleted

    # ------------------------------------------------------------------ customization (automodel)
    def start_customization(self, body: dict[str, Any]) -> str:
        return str(self._create(self.paths.automodel_jobs(), body, self.paths.automodel_job(body["name"]))["name"])

    def customization(self, name: str) -> dict[str, Any]:
        return self._call("GET", self.paths.automodel_job(name)).obj()

    def customization_state(self, name: str) -> JobState:
        return job_state(self._call("GET", self.paths.automodel_job(name) + "/status").data, "customization")

    def cancel_customization(self, name: str) -> JobState | None:
        return self._cancel(self.paths.automodel_job(name), "customization")

    def customization_output(self, name: str) -> str:
        """The gateway model name of a finished job's adapter. Helix 0.8.1 composes it as
        ``<ws>/<model>&adapters/<ws>/<adapter>`` (``nhx.common.entities.utils``; later docs write
        ``ws/model::adapter``)."""
        job = self.customization(name)
        spec = job.get("spec") or {}
        output = spec.get("output") or {}
        if output.get("type") not in (None, "adapter") or not output.get("name"):
            raise NemoNotFoundError(f"customization {name} has no output adapter")
        return f"{spec['model']}&adapters/{self.workspace}/{output['name']}"

    # ------------------------------------------------------------------ evaluation
    def start_evaluation(self, body: dict[str, Any]) -> str:
        return str(self._create(self.paths.evaluate_jobs(), body, self.paths.evaluate_job(body["name"]))["name"])

    def evaluation_state(self, name: str) -> JobState:
        return job_state(self._call("GET", self.paths.evaluate_job(name) + "/status").data, "evaluation")

    def cancel_evaluation(self, name: str) -> JobState | None:
        return self._cancel(self.paths.evaluate_job(name), "evaluation")

    def eval_result(self, name: str) -> dict[str, Any]:
        return self._call("GET", self.paths.eval_result(name)).obj()

    def row_scores(self, name: str) -> list[dict[str, Any]]:
        """The per-row scores of a finished job (JSON lines: item, sample, metrics)."""
        url = self.base_url + self.paths.evaluate_job(name) + "/results/row-scores/download"
        resp = self.http.client.get(url)
        if resp.status_code >= 400:
            raise error_for_status(resp.status_code, platform_message(resp.content), "GET", url)
        return [json.loads(line) for line in resp.text.splitlines() if line.strip()]

    def _cancel(self, path: str, kind: str) -> JobState | None:
        """Cancel unless already finished; None when the job does not exist. A job still ``created`` is
        given up to :data:`CREATED_GRACE_S` to move on first (see there)."""
        deadline = time.monotonic() + CREATED_GRACE_S
        while True:
            current = self._call("GET", path + "/status", allow=(404,))
            if current.status == 404:
                return None
            state = job_state(current.data, kind)
            if state.terminal:
                return state
            if state.status != "created" or time.monotonic() >= deadline:
                return job_state(self._call("POST", path + "/cancel").data, kind)
            time.sleep(CREATED_POLL_S)

    # ------------------------------------------------------------------ jobs service
    def active_jobs(self) -> list[dict[str, Any]]:
        """Every job of the workspace not yet finished, whatever service started it."""
        data = self._call("GET", self.paths.jobs(), params={"page_size": 1000}).data
        return [j for j in data.get("data") or [] if str(j.get("status", "")).lower() in JOB_ACTIVE]

    # ------------------------------------------------------------------ inference gateway
    def chat_url(self) -> str:
        return f"{self.base_url}{self.paths.gateway_v1()}/chat/completions"

    def target(self, entity: str) -> ModelTarget:
        """An evaluation target (or judge) served through this workspace's gateway."""
        return ModelTarget(self.chat_url(), entity)

    def gateway_models(self) -> list[str]:
        data = self._call("GET", self.paths.gateway_v1() + "/models").data
        return [str(m["id"]) for m in data.get("data") or []]

    def chat(self, model: str, messages: list[dict[str, Any]], **extra: Any) -> tuple[float, dict[str, Any]]:
        """One chat completion through the gateway: (seconds, response)."""
        body = {"model": model, "messages": messages, **extra}
        t0 = time.perf_counter()
        data = self._call("POST", self.paths.gateway_v1() + "/chat/completions", json_body=body).data
        return time.perf_counter() - t0, data

    # ------------------------------------------------------------------ what the adapter reads and writes
    def automodel_job(self, name: str) -> dict[str, Any] | None:
        """A customization (automodel) job by name, or None."""
        reply = self._call("GET", self.paths.automodel_job(name), allow=(404,))
        return None if reply.status == 404 else reply.obj()

    def automodel_jobs(self) -> list[dict[str, Any]]:
        return list(self._call("GET", self.paths.automodel_jobs()).obj().get("data") or [])

    def evaluation_job(self, name: str) -> dict[str, Any] | None:
        """An evaluation job by name, or None."""
        reply = self._call("GET", self.paths.evaluate_job(name), allow=(404,))
        return None if reply.status == 404 else reply.obj()

    def deployment_config(self, name: str) -> dict[str, Any]:
        return self._call("GET", self.paths.deployment_config(name)).obj()

    def set_provider_status(self, name: str, status: dict[str, Any]) -> None:
        self._call("PUT", self.paths.provider_status(name), json_body=status)

    def routes(self, model: str) -> bool:
        """The gateway routes ``model`` (a one-token chat is not a 404)."""
        body = {"model": model, "messages": PROBE, "max_tokens": 1}
        return (
            self._call("POST", self.paths.gateway_v1() + "/chat/completions", json_body=body, allow=(404,)).status
            != 404
        )

    def model_entity(self, workspace: str, name: str) -> dict[str, Any] | None:
        """A model entity of ``workspace`` (not necessarily ours: a base model's), or None."""
        reply = self._call("GET", HelixPaths(workspace).model(name), allow=(404,))
        return None if reply.status == 404 else reply.obj()

    def ensure_model_entity(self, workspace: str, name: str) -> dict[str, Any]:
        paths = HelixPaths(workspace)
        return self._create(paths.models(), {"name": name}, paths.model(name))

    def set_model_fields(self, workspace: str, name: str, custom_fields: dict[str, Any]) -> dict[str, Any]:
        """Replace the entity's ``custom_fields``; returns the entity."""
        path = HelixPaths(workspace).model(name)
        return self._call("PATCH", path, json_body={"custom_fields": custom_fields}).obj()


def _without(err: NemoError, value: str) -> NemoError:
    """A copy of ``err`` whose message cannot show ``value`` (a platform may echo a request body)."""
    if isinstance(err, NemoAmbiguousError):
        return NemoAmbiguousError(_without(err.cause, value))
    message = err.message.replace(value, "***") if value else err.message
    return type(err)(message, status=err.status, url=err.url, method=err.method)
