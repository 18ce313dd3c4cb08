"""``NemoClient``: the synchronous NMP 25.x adapter of the port.

Entity Store (namespaces, datasets), Data Store (HF API uploads), Deployment Management (NIM
deployments), NIM proxy (models, embeddings), Customizer (configs, jobs) and Evaluator (jobs, results,
per-row results). The calls themselves are the sans-IO operations of :mod:`flywheel.platforms.nmp.ops`,
shared with :class:`~flywheel.platforms.nmp.aclient.AsyncNemoClient`; this class drives them over
:class:`~flywheel.platforms.core.http.SyncHttp` (timeout, retries, typed errors).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from flywheel.config import NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.embeddings import embed_texts
from flywheel.platforms.core.errors import NemoError, NemoNotFoundError
from flywheel.platforms.core.http import SyncHttp, bearer
from flywheel.platforms.core.jsonread import obj, objs, text
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.specs import (
    CustomizationSpec,
    EvalRow,
    EvaluationResults,
    EvaluationSpec,
    EvaluationTarget,
)
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.nmp.datastore import upload_files
from flywheel.platforms.nmp.endpoints import NemoEndpoints
from flywheel.platforms.nmp.ops import NmpOps

log = logging.getLogger("flywheel.nemo")
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


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
        self.ops = NmpOps(endpoints, self.policy)

    def __enter__(self) -> NemoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"NemoClient({self.endpoints!r})"

    # ------------------------------------------------------------------------ Entity Store + Data Store
    def ensure_namespace(self) -> None:
        """Create our namespace in the Entity Store and the Data Store; existing is fine."""
        self.http.run(self.ops.ensure_namespace())

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
            self.ops.ds("/v1/hf"),
            self.endpoints.api_key,
            repo_id,
            {p: Path(f) for p, f in files.items()},
            self.endpoints.timeout_s,
            self.policy,
            self._sleep,
        )
        files_url = f"hf://datasets/{repo_id}"
        self.http.run(self.ops.register_dataset(name, files_url, description))
        log.info("dataset %s uploaded (%d file(s)) and registered", repo_id, len(files))
        return files_url

    # ------------------------------------------------------------------------------------ deployments
    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> DeploymentInfo:
        """Create the NIM deployment; if it already exists, return the existing one (idempotent)."""
        return self.http.run(self.ops.create_deployment(nim, custom_fields))

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        return self.http.run(self.ops.get_deployment(name))

    def list_deployments(self) -> list[DeploymentInfo]:
        return self.http.run(self.ops.list_deployments())

    def delete_deployment(self, name: str) -> bool:
        """True when deleted now, False when it was already gone."""
        return self.http.run(self.ops.delete_deployment(name))

    # ------------------------------------------------------------------------------------- NIM proxy
    def list_models(self) -> list[str]:
        return self.http.run(self.ops.list_models())

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
        create, nothing to wait for. Checks that it answers for the model now rather than an hour later.
        A bare request (not the platform's session): the platform's key must not go to that URL."""
        url = f"{nim.served_url}/v1/models"
        try:
            resp = httpx.get(url, headers=bearer(api_key), timeout=self.endpoints.timeout_s)
            body: JsonValue = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise NemoError(f"served candidate {nim.model_name}: {url} unreachable ({type(exc).__name__})") from exc
        if body is None:
            hint = ""
            if resp.status_code in (401, 403):
                hint = ": its key was rejected" if api_key else ": it wants an API key (nims[].served_conn_id)"
            raise NemoError(f"served candidate {nim.model_name}: {url} answered HTTP {resp.status_code}{hint}")
        if nim.model_name not in [text(m.get("id")) for m in objs(obj(body).get("data"))]:
            raise NemoNotFoundError(f"served candidate {nim.model_name} is not among the models {url} lists")
        return None

    def release_candidate(self, nim: NimConfig, owner_fields: dict[str, str]) -> bool:
        """Nothing was created for an already served candidate on NMP."""
        return False

    def chat(self, model: str, messages: list[JsonObject], **params: JsonValue) -> JsonObject:
        """One chat completion through the NIM proxy (OpenAI shape); the reply must carry ``choices``."""
        return self.http.run(self.ops.chat(model, messages, params))

    def embed(self, texts: list[str], model: str, batch_size: int = 32) -> list[list[float]]:
        """Embeddings in input order through the NIM proxy. Any failed batch raises: records are never
        silently dropped."""
        return embed_texts(self.http, self.ops.nim("/v1/embeddings"), model, texts, batch_size)

    # ------------------------------------------------------------------------------------ customizer
    def ensure_customization_config(self, nim: NimConfig, training: TrainingConfig) -> str:
        """Create the customization config for this NIM + training settings; returns ``namespace/name``.

        The name holds a hash of the settings, so a changed config.yaml yields a new config rather than
        silently reusing the old one; an identical existing config is reused."""
        return self.http.run(self.ops.ensure_customization_config(nim, training))

    def create_customization(self, spec: CustomizationSpec, request_id: str | None = None) -> tuple[str, str]:
        """Start a customization job; returns (job id, output model as the platform names it).

        ``request_id`` (stored in ``custom_fields``) lets :meth:`find_customization` find the job again."""
        return self.http.run(self.ops.create_customization(spec, request_id))

    def find_customization(self, request_id: str) -> tuple[str, str] | None:
        """(job id, output model) of the customization created with ``request_id``, if any."""
        return self.http.run(self.ops.find_customization(request_id))

    def list_customizations(self) -> list[tuple[str, JobState, dict[str, str]]]:
        """(id, state, custom_fields) of every customization job in the namespace."""
        return self.http.run(self.ops.list_customizations())

    def get_customization(self, job_id: str) -> JobState:
        return self.http.run(self.ops.get_customization(job_id))

    def cancel_customization(self, job_id: str) -> None:
        """Cancel at ``/v1/customization/jobs/{id}/cancel``; a job already finished is fine."""
        self.http.run(self.ops.cancel_customization(job_id))

    def get_model(self, model_id: str) -> JsonObject | None:
        """The model entity (e.g. a customized model ``ns/name@cust-…``), or None if absent."""
        return self.http.run(self.ops.get_model(model_id))

    def mark_model(self, model_id: str, custom_fields: Mapping[str, JsonValue]) -> JsonObject:
        """Merge ``custom_fields`` into a model entity (Entity Store ``PATCH /v1/models/{id}``)."""
        return self.http.run(self.ops.mark_model(model_id, dict(custom_fields)))

    # ------------------------------------------------------------------------------------- evaluator
    def create_evaluation(self, config: EvaluationSpec, target: EvaluationTarget, request_id: str | None = None) -> str:
        return self.http.run(self.ops.create_evaluation(config, target, request_id))

    def find_evaluation(self, request_id: str) -> str | None:
        """Id of the evaluation created with ``request_id``, if any."""
        return self.http.run(self.ops.find_evaluation(request_id))

    def get_evaluation(self, job_id: str) -> JobState:
        return self.http.run(self.ops.get_evaluation(job_id))

    def evaluation_results(self, job_id: str) -> EvaluationResults:
        return self.http.run(self.ops.evaluation_results(job_id))

    def evaluation_rows(self, job_id: str) -> list[EvalRow]:
        return self.http.run(self.ops.evaluation_rows(job_id))

    def cancel_evaluation(self, job_id: str) -> None:
        self.http.run(self.ops.cancel_evaluation(job_id))
