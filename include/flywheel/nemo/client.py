"""``NemoClient``: the synchronous client for every NeMo platform service the flywheel uses.

Entity Store (namespaces, datasets), Data Store (HF API uploads), Deployment Management (NIM
deployments), NIM proxy (models, embeddings), Customizer (configs, jobs) and Evaluator (jobs, results).
Every call goes through :class:`~flywheel.nemo.http.SyncHttp` (timeout, retries, typed errors).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from flywheel.config import NimConfig, TrainingConfig
from flywheel.nemo.configs import customization_config, deployment_body
from flywheel.nemo.datastore import upload_files
from flywheel.nemo.embeddings import embed_texts
from flywheel.nemo.endpoints import NemoEndpoints, bearer
from flywheel.nemo.errors import (
    NemoAmbiguousError,
    NemoConflictError,
    NemoDeploymentError,
    NemoError,
    NemoJobError,
    NemoNotFoundError,
    NemoResponseError,
)
from flywheel.nemo.http import Reply, SyncHttp
from flywheel.nemo.retry import RetryPolicy
from flywheel.nemo.states import Backoff, DeploymentInfo, JobState, PendingWatch

log = logging.getLogger("flywheel.nemo")
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
REQUEST_ID = "flywheel_request_id"
PROMOTED_MARK = "flywheel_promoted"
LIST_PAGES = 20


def _obj(reply: Reply, what: str) -> dict[str, Any]:
    if not isinstance(reply.data, dict):
        raise NemoResponseError(
            f"{what}: expected a JSON object, got {type(reply.data).__name__}", status=reply.status, url=reply.url
        )
    return reply.data


def _field(data: dict[str, Any], key: str, reply: Reply, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise NemoResponseError(f"{what}: response has no '{key}'", status=reply.status, url=reply.url)
    return value


class NemoClient:
    def __init__(
        self,
        endpoints: NemoEndpoints,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.namespace
        self.policy = policy or RetryPolicy(max_retries=endpoints.max_retries)
        self._sleep = sleep
        self.http = SyncHttp(endpoints.timeout_s, self.policy, endpoints.auth_headers(), sleep)

    def __enter__(self) -> NemoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"NemoClient({self.endpoints!r})"

    # URLs
    def _base(self, path: str) -> str:
        return f"{self.endpoints.base_url}{path}"

    def _nim(self, path: str) -> str:
        return f"{self.endpoints.nim_url}{path}"

    def _ds(self, path: str) -> str:
        return f"{self.endpoints.datastore_url}{path}"

    def _pages(self, url: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Items of a paginated platform list (``data`` + ``pagination.total_pages``)."""
        for page in range(1, LIST_PAGES + 1):
            reply = self.http.call("GET", url, params={**(params or {}), "page": page, "page_size": 100})
            body = _obj(reply, f"list {url}")
            items = body.get("data")
            if not isinstance(items, list):
                raise NemoResponseError("list response has no 'data' array", status=reply.status, url=reply.url)
            yield from (i for i in items if isinstance(i, dict))
            total = (body.get("pagination") or {}).get("total_pages")
            if not items or not isinstance(total, int) or page >= total:
                return

    # ------------------------------------------------------------------------ Entity Store + Data Store
    def ensure_namespace(self) -> None:
        """Create our namespace in the Entity Store and the Data Store; existing is fine."""
        self.http.call("POST", self._base("/v1/namespaces"), json_body={"id": self.ns}, allow=(409,))
        self.http.call("POST", self._ds("/v1/datastore/namespaces"), data={"namespace": self.ns}, allow=(409,))

    def upload_dataset(self, name: str, files: dict[str, Path], description: str = "") -> str:
        """Upload ``files`` ({path in repo: local file}) to dataset ``name`` and register it once.

        Idempotent: the repo is created if absent, the commit overwrites, the registration is created or
        updated only when it differs. Returns ``hf://datasets/{namespace}/{name}``."""
        if not DATASET_NAME.match(name or ""):
            raise ValueError(f"invalid dataset name {name!r} (letters, digits, '_', '.', '-'; no '/')")
        if not files:
            raise ValueError(f"dataset {name}: no files to upload")
        for path, local in files.items():
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"dataset {name}: invalid path in repo {path!r}")
            if not Path(local).is_file():
                raise ValueError(f"dataset {name}: local file {local} does not exist")
        repo_id = f"{self.ns}/{name}"
        upload_files(
            self._ds("/v1/hf"),
            self.endpoints.api_key,
            repo_id,
            {p: Path(f) for p, f in files.items()},
            self.endpoints.timeout_s,
            self.policy,
            self._sleep,
        )
        files_url = f"hf://datasets/{repo_id}"
        self._register_dataset(name, files_url, description)
        log.info("dataset %s uploaded (%d file(s)) and registered", repo_id, len(files))
        return files_url

    def _register_dataset(self, name: str, files_url: str, description: str) -> None:
        url = self._base(f"/v1/datasets/{self.ns}/{name}")
        reply = self.http.call("GET", url, allow=(404,))
        wanted = {"files_url": files_url, "description": description, "project": "flywheel"}
        if reply.status == 404:
            created = self.http.call(
                "POST",
                self._base("/v1/datasets"),
                allow=(409,),
                json_body={"name": name, "namespace": self.ns, **wanted},
            )
            if created.status != 409:
                return
            reply = self.http.call("GET", url)
        current = _obj(reply, f"dataset {name}")
        if any(current.get(k) != v for k, v in wanted.items()):
            self.http.call("PATCH", url, json_body=wanted)

    def delete_dataset(self, name: str) -> None:
        """Delete the dataset's files (Data Store) and its registration (Entity Store); absent is fine."""
        if not DATASET_NAME.match(name or ""):
            raise ValueError(f"invalid dataset name {name!r}")
        self.http.call(
            "DELETE",
            self._ds("/v1/hf/api/repos/delete"),
            allow=(404,),
            parse=False,
            json_body={"name": name, "organization": self.ns, "type": "dataset"},
        )
        self.http.call("DELETE", self._base(f"/v1/datasets/{self.ns}/{name}"), allow=(404,), parse=False)

    # ------------------------------------------------------------------------------------ deployments
    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> DeploymentInfo:
        """Create the NIM deployment; if it already exists, return the existing one (idempotent)."""
        body = deployment_body(nim, self.ns, custom_fields)
        try:
            reply = self.http.call("POST", self._base("/v1/deployment/model-deployments"), json_body=body)
        except NemoError as exc:
            # DMS says "model deployment already exists" with 409 (or, per the reference, with a 500)
            if not (isinstance(exc, NemoConflictError) or "already exists" in exc.message.lower()):
                raise
            existing = self.get_deployment(nim.deployment_name)
            if existing is None:
                raise
            log.info("deployment %s/%s already exists (%s)", self.ns, nim.deployment_name, existing.status)
            return existing
        data = _obj(reply, "create deployment")
        try:
            return DeploymentInfo.from_raw(data)
        except NemoResponseError:  # some DMS versions answer without status: read it back
            info = self.get_deployment(nim.deployment_name)
            if info is None:
                raise
            return info

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        reply = self.http.call("GET", self._base(f"/v1/deployment/model-deployments/{self.ns}/{name}"), allow=(404,))
        if reply.status == 404:
            return None
        return DeploymentInfo.from_raw(_obj(reply, f"deployment {name}"))

    def list_deployments(self) -> list[DeploymentInfo]:
        items = self._pages(self._base("/v1/deployment/model-deployments"), {"filter[namespace]": self.ns})
        infos = [DeploymentInfo.from_raw(i) for i in items]
        return [d for d in infos if d.namespace == self.ns]

    def delete_deployment(self, name: str) -> bool:
        """True when deleted now, False when it was already gone."""
        reply = self.http.call(
            "DELETE", self._base(f"/v1/deployment/model-deployments/{self.ns}/{name}"), allow=(404,), parse=False
        )
        return reply.status != 404

    def wait_deployment_ready(
        self, name: str, *, timeout_s: float = 3600.0, pending_limit_s: float = 1800.0, backoff: Backoff | None = None
    ) -> DeploymentInfo:
        """Poll until ready. A failed deployment raises at once; one pending too long raises with a message."""
        backoff = backoff or Backoff()
        watch = PendingWatch(pending_limit_s)
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.get_deployment(name)
            if info is None:
                raise NemoDeploymentError(f"deployment {self.ns}/{name} does not exist (deleted while waiting?)")
            if info.is_ready:
                return info
            if info.is_failed:
                why = f": {info.detail}" if info.detail else ""
                raise NemoDeploymentError(f"deployment {self.ns}/{name} {info.status}{why}")
            watch.observe(info)
            if time.monotonic() > deadline:
                raise NemoDeploymentError(
                    f"deployment {self.ns}/{name} not ready after {timeout_s:.0f}s (last status '{info.status}')"
                )
            self._sleep(backoff.next())

    # ------------------------------------------------------------------------------------- NIM proxy
    def list_models(self) -> list[str]:
        reply = self.http.call("GET", self._nim("/v1/models"))
        data = _obj(reply, "list models").get("data")
        if not isinstance(data, list):
            raise NemoResponseError("model list has no 'data' array", status=reply.status, url=reply.url)
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    def wait_model_served(self, model_id: str, *, timeout_s: float = 1800.0, backoff: Backoff | None = None) -> None:
        """Poll ``/v1/models`` until ``model_id`` is listed (a LoRA adapter syncing, a NIM registering)."""
        backoff = backoff or Backoff()
        deadline = time.monotonic() + timeout_s
        while model_id not in self.list_models():
            if time.monotonic() > deadline:
                raise NemoJobError(f"model {model_id} not served by the NIM proxy after {timeout_s:.0f}s")
            self._sleep(backoff.next())

    def inference_name(self, model: str) -> str:
        """The name the inference URL (``nim_url``) answers to for ``model``: the NIM proxy takes it as is."""
        return model

    def inference_endpoint(self, served_url: str | None, api_key: str | None = None) -> tuple[str, str | None]:
        """(OpenAI base URL, API key) where a candidate answers: the NIM proxy, or the candidate's own URL
        with its own key (never the platform's)."""
        return (served_url, api_key) if served_url else (self.endpoints.nim_url, self.endpoints.api_key)

    # ------------------------------------------------------------------ candidates served elsewhere
    def serve_candidate(self, nim: NimConfig, custom_fields: dict[str, str], api_key: str | None = None) -> str | None:
        """NMP evaluates an already served candidate where it answers (``api_endpoint`` targets): nothing to
        create, nothing to wait for. Checks that it answers for the model now rather than an hour later."""
        url = f"{nim.served_url}/v1/models"
        try:
            resp = httpx.get(url, headers=bearer(api_key), timeout=self.endpoints.timeout_s)
            listed = [str(m.get("id")) for m in resp.json().get("data") or []] if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise NemoError(f"served candidate {nim.model_name}: {url} unreachable ({type(exc).__name__})") from exc
        if listed is None:
            hint = ""
            if resp.status_code in (401, 403):
                hint = ": its key was rejected" if api_key else ": it wants an API key (nims[].served_conn_id)"
            raise NemoError(f"served candidate {nim.model_name}: {url} answered HTTP {resp.status_code}{hint}")
        if nim.model_name not in listed:
            raise NemoNotFoundError(f"served candidate {nim.model_name} is not among the models {url} lists")
        return None

    def release_candidate(self, nim: NimConfig, owner_fields: dict[str, str]) -> bool:
        """Nothing was created for an already served candidate on NMP."""
        return False

    def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        """One chat completion through the NIM proxy (OpenAI shape); the reply must carry ``choices``."""
        reply = self.http.call(
            "POST", self._nim("/v1/chat/completions"), json_body={"model": model, "messages": messages, **params}
        )
        data = _obj(reply, "chat completion")
        if not isinstance(data.get("choices"), list) or not data["choices"]:
            raise NemoResponseError("chat completion has no 'choices'", status=reply.status, url=reply.url)
        return data

    def embed(self, texts: list[str], model: str, batch_size: int = 32) -> list[list[float]]:
        """Embeddings in input order through the NIM proxy. Any failed batch raises: records are never
        silently dropped."""
        return embed_texts(self.http, self._nim("/v1/embeddings"), model, texts, batch_size)

    # ------------------------------------------------------------------------------------ customizer
    def ensure_customization_config(self, nim: NimConfig, training: TrainingConfig) -> str:
        """Create the customization config for this NIM + training settings; returns ``namespace/name``.

        The name holds a hash of the settings, so a changed config.yaml yields a new config rather than
        silently reusing the old one; an identical existing config is reused."""
        name, body = customization_config(nim, training, self.ns)
        reply = self.http.call("POST", self._base("/v1/customization/configs"), json_body=body, allow=(409,))
        if reply.status == 409:
            log.info("customization config %s/%s already exists with these settings; reusing it", self.ns, name)
        return f"{self.ns}/{name}"

    def list_customization_targets(self) -> list[str]:
        """Targets the Customizer offers, as ``namespace/name`` (what a NIM's ``customizer.target`` names)."""
        return [
            f"{t['namespace']}/{t['name']}"
            for t in self._pages(self._base("/v1/customization/targets"))
            if t.get("namespace") and t.get("name")
        ]

    def create_customization(self, payload: dict[str, Any], request_id: str | None = None) -> tuple[str, str]:
        """Start a customization job; returns (job id, output model as the platform names it).

        ``request_id`` (stored in ``custom_fields``) lets :meth:`find_customization` find the job again."""
        body = _with_request_id(payload, request_id)
        data = self._create_job("/v1/customization/jobs", body, "customization")
        reply_like = Reply(200, data, {}, self._base("/v1/customization/jobs"))
        return _field(data, "id", reply_like, "customization job"), _field(
            data, "output_model", reply_like, "customization job"
        )

    def find_customization(self, request_id: str) -> tuple[str, str] | None:
        """(job id, output model) of the customization created with ``request_id``, if any."""
        job = self._find_job("/v1/customization/jobs", request_id)
        return (str(job["id"]), str(job.get("output_model") or "")) if job and job.get("id") else None

    def list_customizations(self) -> list[tuple[str, JobState, dict[str, str]]]:
        """(id, state, custom_fields) of every customization job in the namespace."""
        jobs = []
        for job in self._pages(self._base("/v1/customization/jobs"), {"filter[namespace]": self.ns}):
            if job.get("id") and job.get("namespace", self.ns) == self.ns:
                fields = got if isinstance(got := job.get("custom_fields"), dict) else {}
                jobs.append(
                    (str(job["id"]), JobState.from_customization(job), {str(k): str(v) for k, v in fields.items()})
                )
        return jobs

    def get_customization(self, job_id: str) -> JobState:
        reply = self.http.call("GET", self._base(f"/v1/customization/jobs/{job_id}/status"))
        return JobState.from_customization(_obj(reply, f"customization {job_id}"))

    def cancel_customization(self, job_id: str) -> None:
        """Cancel at ``/v1/customization/jobs/{id}/cancel``; a job already finished is fine."""
        self._cancel(self._base(f"/v1/customization/jobs/{job_id}/cancel"), f"customization {job_id}")

    def delete_customization_config(self, config_ref: str) -> bool:
        """Delete ``namespace/name`` (as returned by :meth:`ensure_customization_config`); False if absent."""
        if config_ref.count("/") != 1:
            raise ValueError(f"config_ref must be '<namespace>/<name>', got {config_ref!r}")
        reply = self.http.call(
            "DELETE", self._base(f"/v1/customization/configs/{config_ref}"), allow=(404,), parse=False
        )
        return reply.status != 404

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        """The model entity (e.g. a customized model ``ns/name@cust-…``), or None if absent."""
        reply = self.http.call("GET", self._base(f"/v1/models/{model_id}"), allow=(404,))
        return None if reply.status == 404 else _obj(reply, f"model {model_id}")

    def mark_model(self, model_id: str, custom_fields: dict[str, Any]) -> dict[str, Any]:
        """Merge ``custom_fields`` into a model entity (Entity Store ``PATCH /v1/models/{id}``)."""
        current = self.get_model(model_id)
        if current is None:
            raise NemoError(f"model {model_id} not found")
        fields = {**(current.get("custom_fields") or {}), **custom_fields}
        reply = self.http.call("PATCH", self._base(f"/v1/models/{model_id}"), json_body={"custom_fields": fields})
        return _obj(reply, f"model {model_id}")

    def delete_model(self, model_id: str) -> bool:
        """Delete a model entity (e.g. a customized model ``ns/name@cust-…``); False if absent. A model marked
        ``flywheel_promoted`` is refused: a promotion keeps it until someone removes the mark on purpose."""
        current = self.get_model(model_id)
        if current is not None and (current.get("custom_fields") or {}).get(PROMOTED_MARK):
            raise NemoError(f"model {model_id} is promoted ({PROMOTED_MARK}); not deleting it")
        reply = self.http.call("DELETE", self._base(f"/v1/models/{model_id}"), allow=(404,), parse=False)
        return reply.status != 404

    # ------------------------------------------------------------------------------------- evaluator
    def create_evaluation(self, config: dict[str, Any], target: dict[str, Any], request_id: str | None = None) -> str:
        body = _with_request_id({"config": config, "target": target, "namespace": self.ns}, request_id)
        data = self._create_job("/v1/evaluation/jobs", body, "evaluation")
        return _field(data, "id", Reply(200, data, {}, self._base("/v1/evaluation/jobs")), "evaluation job")

    def find_evaluation(self, request_id: str) -> str | None:
        """Id of the evaluation created with ``request_id``, if any."""
        job = self._find_job("/v1/evaluation/jobs", request_id)
        return str(job["id"]) if job and job.get("id") else None

    def get_evaluation(self, job_id: str) -> JobState:
        reply = self.http.call("GET", self._base(f"/v1/evaluation/jobs/{job_id}"))
        return JobState.from_evaluation(_obj(reply, f"evaluation {job_id}"))

    def evaluation_results(self, job_id: str) -> dict[str, Any]:
        reply = self.http.call("GET", self._base(f"/v1/evaluation/jobs/{job_id}/results"))
        return _obj(reply, f"evaluation {job_id} results")

    def cancel_evaluation(self, job_id: str) -> None:
        self._cancel(self._base(f"/v1/evaluation/jobs/{job_id}/cancel"), f"evaluation {job_id}")

    def delete_evaluation(self, job_id: str) -> None:
        self.http.call("DELETE", self._base(f"/v1/evaluation/jobs/{job_id}"), allow=(404,), parse=False)

    def wait_job(self, kind: str, job_id: str, *, timeout_s: float, backoff: Backoff | None = None) -> JobState:
        """Poll a ``customization`` or ``evaluation`` job to a terminal state; failure raises with its detail."""
        get = {"customization": self.get_customization, "evaluation": self.get_evaluation}.get(kind)
        if get is None:
            raise ValueError(f"unknown job kind {kind!r}")
        backoff = backoff or Backoff()
        deadline = time.monotonic() + timeout_s
        while True:
            state = get(job_id)
            if state.terminal:
                if not state.succeeded:
                    raise NemoJobError(f"{kind} {job_id} {state.status}: {state.detail or 'no detail'}")
                return state
            if time.monotonic() > deadline:
                raise NemoJobError(f"{kind} {job_id} not finished after {timeout_s:.0f}s (last '{state.status}')")
            self._sleep(backoff.next())

    # ------------------------------------------------------------------------------------- internals
    def _cancel(self, url: str, what: str) -> None:
        reply = self.http.call("POST", url, allow=(409,), parse=False)
        if reply.status == 409:
            log.info("%s already finished; nothing to cancel", what)

    def _create_job(self, path: str, body: dict[str, Any], kind: str) -> dict[str, Any]:
        """POST a job without ever creating two: after an ambiguous failure, find it by request id first."""
        request_id = body["custom_fields"][REQUEST_ID]
        url = self._base(path)
        attempt = 0
        while True:
            try:
                return _obj(self.http.call("POST", url, json_body=body, idempotent=False), f"create {kind}")
            except NemoAmbiguousError as exc:
                found = self._find_job(path, request_id)
                if found is not None:
                    log.warning("%s job %s was created despite the error (%s)", kind, found.get("id"), exc.cause)
                    return found
                if attempt >= self.policy.max_retries:
                    raise exc.cause from exc
                wait = self.policy.delay(attempt)
                log.warning(
                    "create %s retry %d/%d in %.1fs: %s", kind, attempt + 1, self.policy.max_retries, wait, exc.cause
                )
                self._sleep(wait)
                attempt += 1

    def _find_job(self, path: str, request_id: str) -> dict[str, Any] | None:
        for job in self._pages(self._base(path)):
            if (job.get("custom_fields") or {}).get(REQUEST_ID) == request_id:
                return job
        return None


def _with_request_id(payload: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    fields = dict(payload.get("custom_fields") or {})
    fields.setdefault(REQUEST_ID, request_id or uuid.uuid4().hex)
    return {**payload, "custom_fields": fields}
