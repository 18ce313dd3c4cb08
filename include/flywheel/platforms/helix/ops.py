"""Every Helix v2 call the adapter makes, as sans-IO operations (:data:`~flywheel.platforms.core.http.Flow`),
scoped to one workspace: :class:`~flywheel.platforms.helix.client.HelixClient` drives them over a sync
transport and :class:`~flywheel.platforms.helix.client.AsyncHelixClient` over an async one.

Creations are idempotent by name: a 409 means the object is there already and is read back, so a retried
task never creates a second job or deployment.
"""

from __future__ import annotations

import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.errors import NemoAmbiguousError, NemoConflictError, NemoError, NemoNotFoundError
from flywheel.platforms.core.http import Call, Flow, fetch, pause
from flywheel.platforms.core.jsonread import obj, objs, text
from flywheel.platforms.core.retry import backoff_s
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.helix.paths import HelixPaths
from flywheel.platforms.helix.payloads import ModelTarget, fileset_body, secret_body, secret_update_body, workspace_body
from flywheel.platforms.helix.states import deployment_info, job_state
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
# the one-token chat that tells whether the gateway routes a model (Helix lists no adapter names)
PROBE: list[JsonValue] = [{"role": "user", "content": "ping"}]


def conflict_pause_s(attempt: int) -> float:
    """The wait before another write after a 409 (Helix's optimistic concurrency), by the one backoff formula."""
    return backoff_s(attempt, base_s=CONFLICT_PAUSE_S, cap_s=4.0, factor=2.0, jitter=0.5, rng=_conflict_rng)


def without(err: NemoError, value: str) -> NemoError:
    """A copy of ``err`` whose message cannot show ``value`` (a platform may echo a request body)."""
    if isinstance(err, NemoAmbiguousError):
        return NemoAmbiguousError(without(err.cause, value))
    message = err.message.replace(value, "***") if value else err.message
    return type(err)(message, status=err.status, url=err.url, method=err.method)


class HelixOps:
    def __init__(self, base_url: str, workspace: str, gpu_base_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # deployments and automodel jobs need a GPU cluster: on a laptop or in CI they can be served
        # elsewhere (the flywheel emulator's v2 routes) while everything else is the real Helix
        self.gpu_base_url = (gpu_base_url or base_url).rstrip("/")
        self.workspace = workspace
        self.paths = HelixPaths(workspace)

    def url(self, path: str) -> str:
        return (self.gpu_base_url if self.paths.needs_gpu(path) else self.base_url) + path

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: JsonValue = None,
        allow: tuple[int, ...] = (),
        parse: bool = True,
        idempotent: bool = True,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Call:
        url = self.url(path)
        return Call(method, url, json_body, None, allow, parse, idempotent, content=content, headers=headers)

    def request(self, call: Call) -> Flow[JsonObject]:
        """A JSON object answer (a typed error naming the URL when it is anything else)."""
        return (yield from fetch(call)).obj()

    def status(self, call: Call) -> Flow[tuple[int, JsonObject]]:
        """(status, body as an object or empty) for calls that allow statuses such as 404."""
        reply = yield from fetch(call)
        return reply.status, obj(reply.data)

    def create(self, path: str, body: JsonObject, read_back: str) -> Flow[JsonObject]:
        """POST ``body``; on 409 (already there, e.g. a retried task) the existing object."""
        try:
            return (yield from self.request(self.call("POST", path, json_body=body, idempotent=False)))
        except NemoConflictError:
            return (yield from self.request(self.call("GET", read_back)))

    def delete(self, path: str) -> Flow[bool]:
        """True when something was deleted, False when it was already gone. A conflict (another write got
        there first) is re-read: gone is gone, else the delete is tried again."""
        for attempt in range(CONFLICT_TRIES):
            try:
                status, _ = yield from self.status(self.call("DELETE", path, allow=(404,), parse=False))
                return status != 404
            except NemoConflictError:
                if attempt == CONFLICT_TRIES - 1:
                    raise
            status, _ = yield from self.status(self.call("GET", path, allow=(404,)))
            if status == 404:
                return False
            yield from pause(conflict_pause_s(attempt))
        raise AssertionError("unreachable")

    def write_reread(self, write: Callable[[], Flow[T]]) -> Flow[T]:
        """``write()`` (which reads what it needs first), again after a conflict (409), a few times."""
        for attempt in range(CONFLICT_TRIES):
            try:
                return (yield from write())
            except NemoConflictError:
                if attempt == CONFLICT_TRIES - 1:
                    raise
            yield from pause(conflict_pause_s(attempt))
        raise AssertionError("unreachable")

    def maybe(self, path: str) -> Flow[JsonObject | None]:
        """The object at ``path``, or None (404)."""
        status, body = yield from self.status(self.call("GET", path, allow=(404,)))
        return None if status == 404 else body

    # ------------------------------------------------------------------ workspace, secrets, filesets
    def ensure_workspace(self, description: str = "") -> Flow[JsonObject]:
        body = workspace_body(self.workspace, description)
        return (yield from self.create(self.paths.workspaces(), body, self.paths.workspace_path()))

    def put_secret(self, name: str, value: str, description: str) -> Flow[str]:
        """Make the workspace secret ``name`` hold ``value``: ``created``, ``updated`` (its value differed)
        or ``unchanged``. Its current value is read through ``/access`` and compared here; where the caller
        may not read secrets, the value is written anyway. No error raised from here carries ``value``."""
        try:
            status, current = yield from self.status(self.call("GET", self.paths.secret_access(name), allow=(403, 404)))
            if status == 404:
                body = secret_body(name, value, description)
                created, _ = yield from self.status(
                    self.call("POST", self.paths.secrets(), json_body=body, allow=(409,))
                )
                if created != 409:
                    return "created"
            elif status == 200 and hmac.compare_digest(text(current.get("value")).encode(), value.encode()):
                return "unchanged"
            update = secret_update_body(value, description)
            yield from self.status(self.call("PATCH", self.paths.secret(name), json_body=update))
            return "updated"
        except NemoError as err:
            raise without(err, value) from None

    def upload(self, fileset: str, path: str, content: bytes) -> Flow[str]:
        """PUT one file; returns its reference ``ws/fileset#path`` (a PUT is idempotent: retried as such)."""
        headers = {"content-type": "application/octet-stream"}
        body = yield from self.request(
            self.call("PUT", self.paths.fileset_file(fileset, path), content=content, headers=headers)
        )
        return text(body.get("file_ref"))

    def upload_files(self, fileset: str, files: Mapping[str, bytes], description: str = "") -> Flow[str]:
        """Create the fileset if needed and upload ``files``; returns the fileset reference ``ws/fileset``."""
        yield from self.create(self.paths.filesets(), fileset_body(fileset, description), self.paths.fileset(fileset))
        for path, content in files.items():
            yield from self.upload(fileset, path, content)
        return f"{self.workspace}/{fileset}"

    # ------------------------------------------------------------------ providers (already-served models)
    def register_provider(self, body: JsonObject) -> Flow[JsonObject]:
        return (yield from self.create(self.paths.providers(), body, self.paths.provider(text(body.get("name")))))

    def provider(self, name: str) -> Flow[JsonObject | None]:
        if not name:
            return None
        return (yield from self.maybe(self.paths.provider(name)))

    def providers(self) -> Flow[list[JsonObject]]:
        return objs((yield from self.request(self.call("GET", self.paths.providers()))).get("data"))

    def served_entity(self, provider: str, model: str) -> Flow[str | None]:
        """``ws/entity`` under which the gateway serves ``model`` of a provider, or None until it does: the
        provider is READY, lists the model, and the gateway answers for it (its virtual model reaches the
        gateway a few seconds after the provider turns READY)."""
        found = yield from self.provider(provider)
        if found is None or text(found.get("status")).upper() != "READY":
            return None
        for served in objs(found.get("served_models")):
            if served.get("served_model_name") == model:
                entity = text(served.get("model_entity_id"))
                status, _ = yield from self.status(self.call("GET", self.paths.gateway_model(entity), allow=(404,)))
                if status == 200:
                    return entity
        return None

    def delete_provider(self, name: str, *, only_ours: bool = True) -> Flow[bool]:
        """Delete a provider we registered (``only_ours``: one without our mark is left alone)."""
        found = yield from self.provider(name)
        if found is None or (only_ours and read_marks(text(found.get("description")) or None) is None):
            return False
        return (yield from self.delete(self.paths.provider(name)))

    def set_provider_status(self, name: str, status: JsonObject) -> Flow[None]:
        yield from self.status(self.call("PUT", self.paths.provider_status(name), json_body=status))

    # ------------------------------------------------------------------ deployments
    def create_deployment(self, config_body: JsonObject, name: str) -> Flow[DeploymentInfo]:
        paths = self.paths
        config = yield from self.create(paths.deployment_configs(), config_body, paths.deployment_config(name))
        body: JsonObject = {"name": name, "config": config_body["name"]}
        raw = yield from self.create(paths.deployments(), body, paths.deployment(name))
        return deployment_info(raw, config)

    def _with_config(self, raw: JsonObject) -> Flow[DeploymentInfo]:
        config = yield from self.maybe(self.paths.deployment_config(text(raw.get("config"))))
        return deployment_info(raw, config)

    def deployment(self, name: str) -> Flow[DeploymentInfo | None]:
        raw = yield from self.maybe(self.paths.deployment(name))
        return None if raw is None else (yield from self._with_config(raw))

    def deployments(self) -> Flow[list[DeploymentInfo]]:
        out = []
        for raw in objs((yield from self.request(self.call("GET", self.paths.deployments()))).get("data")):
            out.append((yield from self._with_config(raw)))
        return out

    def delete_deployment(self, name: str, *, only_ours: bool = True) -> Flow[bool]:
        """Delete a deployment and its config; ``only_ours`` leaves one without our mark alone."""
        found = yield from self.deployment(name)
        if found is None or (only_ours and not found.custom_fields):
            return False
        deleted = yield from self.delete(self.paths.deployment(name))
        yield from self.delete(self.paths.deployment_config(text(found.raw.get("config"))))
        return deleted

    def deployment_config(self, name: str) -> Flow[JsonObject]:
        return (yield from self.request(self.call("GET", self.paths.deployment_config(name))))

    # ------------------------------------------------------------------ customization (automodel)
    def start_customization(self, body: JsonObject) -> Flow[str]:
        name = text(body.get("name"))
        job = yield from self.create(self.paths.automodel_jobs(), body, self.paths.automodel_job(name))
        return text(job.get("name"))

    def customization(self, name: str) -> Flow[JsonObject]:
        return (yield from self.request(self.call("GET", self.paths.automodel_job(name))))

    def automodel_job(self, name: str) -> Flow[JsonObject | None]:
        """A customization (automodel) job by name, or None."""
        return (yield from self.maybe(self.paths.automodel_job(name)))

    def automodel_jobs(self) -> Flow[list[JsonObject]]:
        return objs((yield from self.request(self.call("GET", self.paths.automodel_jobs()))).get("data"))

    def customization_state(self, name: str) -> Flow[JobState]:
        return job_state(
            (yield from self.request(self.call("GET", self.paths.automodel_job(name) + "/status"))), "customization"
        )

    def cancel_customization(self, name: str) -> Flow[JobState | None]:
        return (yield from self.cancel(self.paths.automodel_job(name), "customization"))

    # ------------------------------------------------------------------ evaluation
    def start_evaluation(self, body: JsonObject) -> Flow[str]:
        name = text(body.get("name"))
        job = yield from self.create(self.paths.evaluate_jobs(), body, self.paths.evaluate_job(name))
        return text(job.get("name"))

    def evaluation_job(self, name: str) -> Flow[JsonObject | None]:
        """An evaluation job by name, or None."""
        return (yield from self.maybe(self.paths.evaluate_job(name)))

    def evaluation_state(self, name: str) -> Flow[JobState]:
        return job_state(
            (yield from self.request(self.call("GET", self.paths.evaluate_job(name) + "/status"))), "evaluation"
        )

    def cancel_evaluation(self, name: str) -> Flow[JobState | None]:
        return (yield from self.cancel(self.paths.evaluate_job(name), "evaluation"))

    def eval_result(self, name: str) -> Flow[JsonObject]:
        return (yield from self.request(self.call("GET", self.paths.eval_result(name))))

    def row_scores(self, name: str) -> Flow[list[JsonObject]]:
        """The per-row scores of a finished job (JSON lines: row_index, item, sample, metrics, requests)."""
        path = self.paths.evaluate_job(name) + "/results/row-scores/download"
        reply = yield from fetch(Call("GET", self.url(path), parse=False))
        lines = reply.content.decode("utf-8", errors="replace").splitlines()
        rows: list[JsonValue] = [json.loads(line) for line in lines if line.strip()]
        return objs(rows)

    def cancel(self, path: str, kind: str) -> Flow[JobState | None]:
        """Cancel unless already finished; None when the job does not exist. A job still ``created`` is
        given up to :data:`CREATED_GRACE_S` to move on first (see there)."""
        deadline = time.monotonic() + CREATED_GRACE_S
        while True:
            status, current = yield from self.status(self.call("GET", path + "/status", allow=(404,)))
            if status == 404:
                return None
            state = job_state(current, kind)
            if state.terminal:
                return state
            if state.status != "created" or time.monotonic() >= deadline:
                return job_state((yield from self.request(self.call("POST", path + "/cancel"))), kind)
            yield from pause(CREATED_POLL_S)

    # ------------------------------------------------------------------ inference gateway
    def chat_url(self) -> str:
        return f"{self.base_url}{self.paths.gateway_v1()}/chat/completions"

    def target(self, entity: str) -> ModelTarget:
        """An evaluation target (or judge) served through this workspace's gateway."""
        return ModelTarget(self.chat_url(), entity)

    def gateway_models(self) -> Flow[list[str]]:
        data = yield from self.request(self.call("GET", self.paths.gateway_v1() + "/models"))
        return [text(m.get("id")) for m in objs(data.get("data"))]

    def chat(self, model: str, messages: list[JsonObject], extra: JsonObject) -> Flow[JsonObject]:
        body: JsonObject = {"model": model, "messages": list[JsonValue](messages), **extra}
        return (
            yield from self.request(self.call("POST", self.paths.gateway_v1() + "/chat/completions", json_body=body))
        )

    def routes(self, model: str) -> Flow[bool]:
        """The gateway routes ``model`` (a one-token chat is not a 404)."""
        body: JsonObject = {"model": model, "messages": PROBE, "max_tokens": 1}
        path = self.paths.gateway_v1() + "/chat/completions"
        status, _ = yield from self.status(self.call("POST", path, json_body=body, allow=(404,)))
        return status != 404

    # ------------------------------------------------------------------ model entities
    def model_entity(self, workspace: str, name: str) -> Flow[JsonObject | None]:
        """A model entity of ``workspace`` (not necessarily ours: a base model's), or None."""
        return (yield from self.maybe(HelixPaths(workspace).model(name)))

    def ensure_model_entity(self, workspace: str, name: str) -> Flow[JsonObject]:
        paths = HelixPaths(workspace)
        return (yield from self.create(paths.models(), {"name": name}, paths.model(name)))

    def set_model_fields(self, workspace: str, name: str, custom_fields: JsonObject) -> Flow[JsonObject]:
        """Replace the entity's ``custom_fields``; returns the entity."""
        path = HelixPaths(workspace).model(name)
        return (yield from self.request(self.call("PATCH", path, json_body={"custom_fields": custom_fields})))


__all__ = ["CREATED_GRACE_S", "PROBE", "HelixOps", "NemoNotFoundError", "conflict_pause_s"]
