"""Every NMP 25.x call the port makes, as sans-IO operations (:data:`~flywheel.platforms.core.http.Flow`):
they yield requests and read answers, and the sync client (:mod:`.client`) and the async one
(:mod:`.aclient`) drive the same operations over their own transport.
"""

from __future__ import annotations

import logging
import uuid

from flywheel.config import NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.errors import NemoAmbiguousError, NemoConflictError, NemoError, NemoResponseError
from flywheel.platforms.core.http import Call, Flow, Reply, fetch, pause
from flywheel.platforms.core.jsonread import marks_of, obj, objs, text
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.specs import (
    CustomizationSpec,
    EvalRow,
    EvaluationResults,
    EvaluationSpec,
    EvaluationTarget,
)
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.marks import REQUEST_ID
from flywheel.platforms.nmp import wire
from flywheel.platforms.nmp.endpoints import NemoEndpoints

log = logging.getLogger("flywheel.nemo")
LIST_PAGES = 20


def answer(reply: Reply, what: str) -> JsonObject:
    if not isinstance(reply.data, dict):
        raise NemoResponseError(
            f"{what}: expected a JSON object, got {type(reply.data).__name__}", status=reply.status, url=reply.url
        )
    return reply.data


def _field(data: JsonObject, key: str, url: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise NemoResponseError(f"{what}: response has no '{key}'", url=url)
    return value


def with_request_id(payload: JsonObject, request_id: str | None) -> tuple[str, JsonObject]:
    fields = dict(obj(payload.get("custom_fields")))
    rid = text(fields.setdefault(REQUEST_ID, request_id or uuid.uuid4().hex))
    return rid, {**payload, "custom_fields": fields}


class NmpOps:
    """The operations, bound to one platform's URLs and namespace."""

    def __init__(self, endpoints: NemoEndpoints, policy: RetryPolicy) -> None:
        self.endpoints, self.policy, self.ns = endpoints, policy, endpoints.namespace

    def base(self, path: str) -> str:
        return f"{self.endpoints.base_url}{path}"

    def nim(self, path: str) -> str:
        return f"{self.endpoints.nim_url}{path}"

    def ds(self, path: str) -> str:
        return f"{self.endpoints.datastore_url}{path}"

    def _deployment_url(self, name: str) -> str:
        return self.base(f"/v1/deployment/model-deployments/{self.ns}/{name}")

    def pages(self, url: str, params: dict[str, str | int] | None = None) -> Flow[list[JsonObject]]:
        """Items of a paginated platform list (``data`` + ``pagination.total_pages``)."""
        out: list[JsonObject] = []
        for page in range(1, LIST_PAGES + 1):
            reply = yield from fetch(Call("GET", url, params={**(params or {}), "page": page, "page_size": 100}))
            body = answer(reply, f"list {url}")
            items = body.get("data")
            if not isinstance(items, list):
                raise NemoResponseError("list response has no 'data' array", status=reply.status, url=reply.url)
            out += objs(items)
            total = obj(body.get("pagination")).get("total_pages")
            if not items or not isinstance(total, int) or page >= total:
                break
        return out

    # ------------------------------------------------------------------------ Entity Store + Data Store
    def ensure_namespace(self) -> Flow[None]:
        yield from fetch(Call("POST", self.base("/v1/namespaces"), json_body={"id": self.ns}, allow=(409,)))
        url = self.ds("/v1/datastore/namespaces")
        yield from fetch(Call("POST", url, form={"namespace": self.ns}, allow=(409,)))

    def register_dataset(self, name: str, files_url: str, description: str) -> Flow[None]:
        url = self.base(f"/v1/datasets/{self.ns}/{name}")
        reply = yield from fetch(Call("GET", url, allow=(404,)))
        wanted: JsonObject = {"files_url": files_url, "description": description, "project": "flywheel"}
        if reply.status == 404:
            body: JsonObject = {"name": name, "namespace": self.ns, **wanted}
            created = yield from fetch(Call("POST", self.base("/v1/datasets"), allow=(409,), json_body=body))
            if created.status != 409:
                return
            reply = yield from fetch(Call("GET", url))
        current = answer(reply, f"dataset {name}")
        if any(current.get(k) != v for k, v in wanted.items()):
            yield from fetch(Call("PATCH", url, json_body=wanted))

    # ------------------------------------------------------------------------------------ deployments
    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> Flow[DeploymentInfo]:
        """Create the NIM deployment; if it already exists, the existing one (idempotent)."""
        body = wire.deployment_body(nim, self.ns, custom_fields)
        try:
            reply = yield from fetch(Call("POST", self.base("/v1/deployment/model-deployments"), json_body=body))
        except NemoError as exc:
            # DMS says "model deployment already exists" with 409 (or, per the reference, with a 500)
            if not (isinstance(exc, NemoConflictError) or "already exists" in exc.message.lower()):
                raise
            existing = yield from self.get_deployment(nim.deployment_name)
            if existing is None:
                raise
            log.info("deployment %s/%s already exists (%s)", self.ns, nim.deployment_name, existing.status)
            return existing
        try:
            return DeploymentInfo.from_raw(answer(reply, "create deployment"))
        except NemoResponseError:  # some DMS versions answer without status: read it back
            info = yield from self.get_deployment(nim.deployment_name)
            if info is None:
                raise
            return info

    def get_deployment(self, name: str) -> Flow[DeploymentInfo | None]:
        reply = yield from fetch(Call("GET", self._deployment_url(name), allow=(404,)))
        return None if reply.status == 404 else DeploymentInfo.from_raw(answer(reply, f"deployment {name}"))

    def list_deployments(self) -> Flow[list[DeploymentInfo]]:
        items = yield from self.pages(self.base("/v1/deployment/model-deployments"), {"filter[namespace]": self.ns})
        return [d for d in map(DeploymentInfo.from_raw, items) if d.namespace == self.ns]

    def delete_deployment(self, name: str) -> Flow[bool]:
        """True when deleted now, False when it was already gone."""
        reply = yield from fetch(Call("DELETE", self._deployment_url(name), allow=(404,), parse=False))
        return reply.status != 404

    def list_models(self) -> Flow[list[str]]:
        reply = yield from fetch(Call("GET", self.nim("/v1/models")))
        data = answer(reply, "list models").get("data")
        if not isinstance(data, list):
            raise NemoResponseError("model list has no 'data' array", status=reply.status, url=reply.url)
        return [text(m["id"]) for m in objs(data) if m.get("id")]

    def chat(self, model: str, messages: list[JsonObject], params: JsonObject) -> Flow[JsonObject]:
        body: JsonObject = {"model": model, "messages": list[JsonValue](messages), **params}
        reply = yield from fetch(Call("POST", self.nim("/v1/chat/completions"), json_body=body))
        data = answer(reply, "chat completion")
        if not isinstance(data.get("choices"), list) or not data["choices"]:
            raise NemoResponseError("chat completion has no 'choices'", status=reply.status, url=reply.url)
        return data

    # ------------------------------------------------------------------------------------ customizer
    def ensure_customization_config(self, nim: NimConfig, training: TrainingConfig) -> Flow[str]:
        name, body = wire.customization_config(nim, training, self.ns)
        url = self.base("/v1/customization/configs")
        reply = yield from fetch(Call("POST", url, json_body=body, allow=(409,)))
        if reply.status == 409:
            log.info("customization config %s/%s already exists with these settings; reusing it", self.ns, name)
        return f"{self.ns}/{name}"

    def create_customization(self, spec: CustomizationSpec, request_id: str | None) -> Flow[tuple[str, str]]:
        rid, body = with_request_id(wire.customization_job(spec), request_id)
        data = yield from self._create_job("/v1/customization/jobs", body, rid, "customization")
        url = self.base("/v1/customization/jobs")
        return _field(data, "id", url, "customization job"), _field(data, "output_model", url, "customization job")

    def find_customization(self, request_id: str) -> Flow[tuple[str, str] | None]:
        job = yield from self._find_job("/v1/customization/jobs", request_id)
        return (text(job["id"]), text(job.get("output_model"))) if job and job.get("id") else None

    def list_customizations(self) -> Flow[list[tuple[str, JobState, dict[str, str]]]]:
        jobs = yield from self.pages(self.base("/v1/customization/jobs"), {"filter[namespace]": self.ns})
        return [
            (text(j["id"]), JobState.from_customization(j), marks_of(j.get("custom_fields")))
            for j in jobs
            if j.get("id") and j.get("namespace", self.ns) == self.ns
        ]

    def get_customization(self, job_id: str) -> Flow[JobState]:
        reply = yield from fetch(Call("GET", self.base(f"/v1/customization/jobs/{job_id}/status")))
        return JobState.from_customization(answer(reply, f"customization {job_id}"))

    def cancel_customization(self, job_id: str) -> Flow[None]:
        yield from self._cancel(self.base(f"/v1/customization/jobs/{job_id}/cancel"), f"customization {job_id}")

    def get_model(self, model_id: str) -> Flow[JsonObject | None]:
        reply = yield from fetch(Call("GET", self.base(f"/v1/models/{model_id}"), allow=(404,)))
        return None if reply.status == 404 else answer(reply, f"model {model_id}")

    def mark_model(self, model_id: str, custom_fields: JsonObject) -> Flow[JsonObject]:
        """Merge ``custom_fields`` into a model entity (Entity Store ``PATCH /v1/models/{id}``)."""
        current = yield from self.get_model(model_id)
        if current is None:
            raise NemoError(f"model {model_id} not found")
        fields: JsonObject = {**obj(current.get("custom_fields")), **custom_fields}
        url = self.base(f"/v1/models/{model_id}")
        reply = yield from fetch(Call("PATCH", url, json_body={"custom_fields": fields}))
        return answer(reply, f"model {model_id}")

    # ------------------------------------------------------------------------------------- evaluator
    def create_evaluation(self, spec: EvaluationSpec, target: EvaluationTarget, request_id: str | None) -> Flow[str]:
        payload: JsonObject = {
            "config": wire.evaluation_config(spec),
            "target": wire.evaluation_target(target),
            "namespace": self.ns,
        }
        rid, body = with_request_id(payload, request_id)
        data = yield from self._create_job("/v1/evaluation/jobs", body, rid, "evaluation")
        return _field(data, "id", self.base("/v1/evaluation/jobs"), "evaluation job")

    def find_evaluation(self, request_id: str) -> Flow[str | None]:
        job = yield from self._find_job("/v1/evaluation/jobs", request_id)
        return text(job["id"]) if job and job.get("id") else None

    def get_evaluation(self, job_id: str) -> Flow[JobState]:
        reply = yield from fetch(Call("GET", self.base(f"/v1/evaluation/jobs/{job_id}")))
        return JobState.from_evaluation(answer(reply, f"evaluation {job_id}"))

    def evaluation_results(self, job_id: str) -> Flow[EvaluationResults]:
        reply = yield from fetch(Call("GET", self.base(f"/v1/evaluation/jobs/{job_id}/results")))
        return wire.results(answer(reply, f"evaluation {job_id} results"))

    def evaluation_rows(self, job_id: str) -> Flow[list[EvalRow]]:
        """Per-row results from the job's result archive (``download-results``, a ZIP with ``results.json``)."""
        url = self.base(f"/v1/evaluation/jobs/{job_id}/download-results")
        reply = yield from fetch(Call("GET", url, parse=False, headers={"accept": "application/zip"}))
        return wire.rows(wire.results_json(reply.content))

    def cancel_evaluation(self, job_id: str) -> Flow[None]:
        yield from self._cancel(self.base(f"/v1/evaluation/jobs/{job_id}/cancel"), f"evaluation {job_id}")

    # ------------------------------------------------------------------------------------- internals
    def _cancel(self, url: str, what: str) -> Flow[None]:
        reply = yield from fetch(Call("POST", url, allow=(409,), parse=False))
        if reply.status == 409:
            log.info("%s already finished; nothing to cancel", what)

    def _create_job(self, path: str, body: JsonObject, request_id: str, kind: str) -> Flow[JsonObject]:
        """POST a job without ever creating two: after an ambiguous failure, find it by request id first."""
        url = self.base(path)
        attempt = 0
        while True:
            try:
                reply = yield from fetch(Call("POST", url, json_body=body, idempotent=False))
                return answer(reply, f"create {kind}")
            except NemoAmbiguousError as exc:
                found = yield from self._find_job(path, request_id)
                if found is not None:
                    log.warning("%s job %s was created despite the error (%s)", kind, found.get("id"), exc.cause)
                    return found
                if attempt >= self.policy.max_retries:
                    raise exc.cause from exc
                wait = self.policy.delay(attempt)
                log.warning(
                    "create %s retry %d/%d in %.1fs: %s", kind, attempt + 1, self.policy.max_retries, wait, exc.cause
                )
                yield from pause(wait)
                attempt += 1

    def _find_job(self, path: str, request_id: str) -> Flow[JsonObject | None]:
        jobs = yield from self.pages(self.base(path))
        return next((j for j in jobs if obj(j.get("custom_fields")).get(REQUEST_ID) == request_id), None)
