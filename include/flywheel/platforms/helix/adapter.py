"""The ``helix`` adapter of the platform port (:mod:`flywheel.platforms.port`).

Each port method is written once, as a sans-IO operation of :class:`HelixFlows` over the Helix calls of
:class:`~flywheel.platforms.helix.ops.HelixOps`; :class:`HelixPlatform` drives it over the sync
transport and :class:`AsyncHelixPlatform` over the async one.

Objects are named from the DAG's deterministic request ids (``eval-<id>``, ``cust-<id>``), so finding
the job an earlier try created is one GET by name, and Helix's 409 on a second create is the proof
that no duplicate exists. Ownership marks go where NMP keeps ``custom_fields``: on jobs as such, on
deployment configs and providers in their description (:func:`flywheel.platforms.marks.mark_text`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.embeddings import embed_texts
from flywheel.platforms.core.errors import NemoNotFoundError
from flywheel.platforms.core.http import AsyncHttp, Flow, SyncHttp, bearer
from flywheel.platforms.core.jsonread import marks_of, obj, objs, text
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.specs import (
    WORKLOAD_TYPES,
    CustomizationSpec,
    EvalRow,
    EvaluationResults,
    EvaluationSpec,
    EvaluationTarget,
    WorkloadType,
)
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix import scores as S
from flywheel.platforms.helix import translate as T
from flywheel.platforms.helix.endpoints import HelixEndpoints
from flywheel.platforms.helix.ops import HelixOps
from flywheel.platforms.helix.standin import (
    ADAPTER_MARKS,
    adapter_names,
    adapter_providers_of,
    adapter_route,
    base_of,
    provider_for,
)
from flywheel.platforms.helix.states import job_state
from flywheel.platforms.marks import RUN, OwnerMark, read_marks


def served_names(providers: list[JsonObject], gateway: list[str]) -> dict[str, str]:
    """{model name as its provider serves it: ``ws/entity`` in the gateway}, for READY providers whose
    model the gateway lists."""
    listed, out = set(gateway), {}
    for p in providers:
        if text(p.get("status")).upper() != "READY":
            continue
        for served in objs(p.get("served_models")):
            entity = text(served.get("model_entity_id"))
            if entity in listed and served.get("served_model_name"):
                out[text(served.get("served_model_name"))] = entity
    return out


def _ours(provider: JsonObject) -> bool:
    return read_marks(text(provider.get("description")) or None) is not None


class HelixFlows:
    """The port's methods on Helix as operations (no I/O: the platforms below drive them)."""

    def __init__(self, endpoints: HelixEndpoints) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.workspace
        self.ops = HelixOps(endpoints.base_url, endpoints.workspace, endpoints.gpu_url)

    # ------------------------------------------------------------------ deployments (+ their provider)
    def get_deployment(self, name: str) -> Flow[DeploymentInfo | None]:
        info = yield from self.ops.deployment(name)
        if info is not None and info.is_ready and self.endpoints.provider_url:
            yield from self._ensure_provider(info)
        return info

    def _ensure_provider(self, info: DeploymentInfo) -> Flow[None]:
        """What Helix does for a READY deployment on its own cluster, done for a stand-in one: register
        the provider that serves it (marked like the deployment)."""
        if (yield from self.ops.provider(info.name)) is not None:
            return
        config = yield from self.ops.deployment_config(text(info.raw.get("config")))
        body = provider_for(info, config, str(self.endpoints.provider_url))
        if body is not None:
            yield from self.ops.register_provider(body)

    def delete_deployment(self, name: str) -> Flow[bool]:
        """Delete our deployment, its config and the providers we registered for it; False if already gone."""
        deleted = yield from self.ops.delete_deployment(name)
        providers = yield from self.ops.providers()
        ours = {text(p.get("name")) for p in providers if _ours(p)}
        for provider in [*adapter_providers_of(name, providers, self.ns), name]:
            if provider in ours:
                yield from self.ops.delete(self.ops.paths.provider(provider))
        return deleted

    # ------------------------------------------------------------------ serving
    def served(self) -> Flow[dict[str, str]]:
        providers = yield from self.ops.providers()
        return served_names(providers, (yield from self.ops.gateway_models()))

    def list_models(self) -> Flow[list[str]]:
        """What the gateway answers for: its ``ws/entity`` names, the names providers serve them under,
        and the adapters it routes (one-token probe: Helix lists no adapter names)."""
        gateway = yield from self.ops.gateway_models()
        providers = yield from self.ops.providers()
        adapters = []
        for adapter in adapter_names(providers, gateway):
            if (yield from self.ops.routes(adapter)):
                adapters.append(adapter)
        return sorted({*gateway, *served_names(providers, gateway), *adapters})

    def gateway_name(self, model: str) -> Flow[str]:
        """The gateway's name for ``model`` (a served model name, or already ``ws/...``)."""
        if model.startswith(f"{self.ns}/"):
            return model
        found = (yield from self.served()).get(model)
        if found is None:
            raise NemoNotFoundError(f"model {model} is not served through the gateway of workspace {self.ns}")
        return found

    def serve_candidate(self, nim: NimConfig, marks: dict[str, str], api_key: str | None) -> Flow[str | None]:
        name, url = P.served_provider_name(nim, marks.get(RUN, "")), str(nim.served_url)
        secret = None
        if api_key:
            secret = P.served_secret_name(url, nim.model_name)
            yield from self.ops.put_secret(secret, api_key, P.served_secret_description(url, nim.model_name))
        if (yield from self.ops.provider(name)) is None:
            yield from self.ops.register_provider(P.provider_body(name, url, [nim.model_name], marks, secret))
        return nim.model_name

    def release_candidate(self, nim: NimConfig, owner_fields: dict[str, str]) -> Flow[bool]:
        name = P.served_provider_name(nim, owner_fields.get(RUN, ""))
        found = yield from self.ops.provider(name)
        owner = OwnerMark.read(owner_fields)
        if found is None or owner is None or not owner.owns(read_marks(text(found.get("description")) or None)):
            return False
        return (yield from self.ops.delete_provider(name))

    def chat(self, model: str, messages: list[JsonObject], params: JsonObject) -> Flow[JsonObject]:
        return (yield from self.ops.chat((yield from self.gateway_name(model)), messages, params))

    # ------------------------------------------------------------------ customization (automodel)
    def ensure_customization_config(self, nim: NimConfig) -> Flow[str]:
        """Helix has no customization configs: a job names its base model (``ws/entity``) directly."""
        served = (yield from self.served()).get(nim.model_name)
        return served or f"{self.ns}/{P.entity_name(nim.model_name)}"

    def create_customization(self, spec: CustomizationSpec, request_id: str | None) -> Flow[tuple[str, str]]:
        request_id = request_id or uuid.uuid4().hex
        name = P.helix_name("cust", request_id)
        output = P.helix_name(spec.output_model.rsplit("/", 1)[-1])
        marks = {**spec.marks, T.REQUEST_ID: request_id}
        dataset = f"{self.ns}/{T.fileset_name(spec.dataset)}"
        lora = spec.lora or _NO_LORA
        body = P.automodel_job(name, spec.config, dataset, None, output, spec.training, lora, marks)
        return (yield from self.ops.start_customization(body)), self._adapter(body)

    def _adapter(self, job: JsonObject) -> str:
        spec = obj(job.get("spec"))
        return f"{text(spec.get('model'))}&adapters/{self.ns}/{text(obj(spec.get('output')).get('name'))}"

    def find_customization(self, request_id: str) -> Flow[tuple[str, str] | None]:
        job = yield from self.ops.automodel_job(P.helix_name("cust", request_id))
        return None if job is None else (text(job.get("name")), self._adapter(job))

    def list_customizations(self) -> Flow[list[tuple[str, JobState, dict[str, str]]]]:
        jobs = yield from self.ops.automodel_jobs()
        return [(text(j.get("name")), job_state(j, "customization"), marks_of(j.get("custom_fields"))) for j in jobs]

    def get_customization(self, job_id: str) -> Flow[JobState]:
        state = yield from self.ops.customization_state(job_id)
        if state.succeeded and self.endpoints.provider_url:
            yield from self._serve_adapter(job_id)
        return state

    def _serve_adapter(self, job_id: str) -> Flow[None]:
        """See :mod:`flywheel.platforms.helix.standin`: route a finished adapter on a stand-in cluster."""
        if (yield from self.ops.provider(job_id)) is not None:
            return
        job = yield from self.ops.customization(job_id)
        route = adapter_route(job, (yield from self.ops.providers()), self.ns)
        if route is not None:
            provider, status = route
            yield from self.ops.register_provider(provider)
            yield from self.ops.set_provider_status(job_id, status)

    def cancel_customization(self, job_id: str) -> Flow[None]:
        yield from self.ops.cancel_customization(job_id)

    def mark_model(self, model_id: str, custom_fields: JsonObject) -> Flow[JsonObject]:
        """Merge ``custom_fields`` into the model entity's; for an adapter (which has no entity of its
        own on Helix) into its base entity's, under ``flywheel_adapters.<adapter gateway name>``."""
        return (yield from self.ops.write_reread(lambda: self._mark_model_once(model_id, custom_fields)))

    def _mark_model_once(self, model_id: str, custom_fields: JsonObject) -> Flow[JsonObject]:
        entity = yield from self.gateway_name(model_id)
        base = base_of(entity)
        ws, _, name = (base or entity).partition("/")
        current = yield from self.ops.model_entity(ws, name)
        if current is None and self.endpoints.provider_url and ws == self.ns:
            # a cluster keeps the entity a deployment was made from; Helix deletes the one its discovery
            # made for a stand-in NIM with that NIM's provider, so the stand-in puts it back
            current = yield from self.ops.ensure_model_entity(ws, name)
        if current is None:
            raise NemoNotFoundError(f"model entity {base or entity} not found in Helix (marking {model_id})")
        fields = dict(obj(current.get("custom_fields")))
        if base is None:
            fields.update(custom_fields)
        else:
            adapters = dict(obj(fields.get(ADAPTER_MARKS)))
            adapters[entity] = {**obj(adapters.get(entity)), **custom_fields}
            fields[ADAPTER_MARKS] = adapters
        return (yield from self.ops.set_model_fields(ws, name, fields))

    # ------------------------------------------------------------------ evaluation
    def create_evaluation(self, spec: EvaluationSpec, target: EvaluationTarget, request_id: str | None) -> Flow[str]:
        request_id = request_id or uuid.uuid4().hex
        judge, judge_target = spec.judge, None
        if judge is not None and judge.mode == "remote":
            url, model, secret = str(judge.url), judge.model_name, None
            if judge.api_key:  # the key goes to a workspace secret; the job names only the secret
                secret = P.judge_secret_name(url, model)
                yield from self.ops.put_secret(secret, judge.api_key, P.judge_secret_description(url, model))
            judge_target = P.ModelTarget(url, model, secret)
        elif judge is not None:
            judge_target = self.ops.target((yield from self.gateway_name(judge.model_name)))
        # a candidate served elsewhere is reached through the provider registered for it (serve_candidate)
        candidate = self.ops.target((yield from self.gateway_name(target.model)))
        body = P.evaluation_spec(spec.workload_type, T.file_ref(spec.files_url), candidate, judge_target, spec.limit)
        marks = {T.REQUEST_ID: request_id, T.WORKLOAD_TYPE: spec.workload_type}
        return (yield from self.ops.start_evaluation(P.evaluation_job(P.helix_name("eval", request_id), body, marks)))

    def find_evaluation(self, request_id: str) -> Flow[str | None]:
        job = yield from self.ops.evaluation_job(P.helix_name("eval", request_id))
        return None if job is None else text(job.get("name"))

    def _workload(self, job_id: str) -> Flow[WorkloadType]:
        job = yield from self.ops.evaluation_job(job_id)
        if job is None:
            raise NemoNotFoundError(f"evaluation job {job_id} not found in Helix")
        kind = text(obj(job.get("custom_fields")).get(T.WORKLOAD_TYPE))
        for workload in WORKLOAD_TYPES:
            if workload == kind:
                return workload
        raise NemoNotFoundError(f"evaluation job {job_id} names no workload type (custom field {T.WORKLOAD_TYPE})")

    def evaluation_results(self, job_id: str) -> Flow[EvaluationResults]:
        workload = yield from self._workload(job_id)
        rows = (yield from self.ops.row_scores(job_id)) if workload == "classification" else None
        return S.results(workload, (yield from self.ops.eval_result(job_id)), rows)

    def evaluation_rows(self, job_id: str) -> Flow[list[EvalRow]]:
        workload = yield from self._workload(job_id)
        return S.rows(workload, (yield from self.ops.row_scores(job_id)))


_NO_LORA = LoraConfig()


def _http_args(ep: HelixEndpoints) -> tuple[float, RetryPolicy, dict[str, str]]:
    return ep.timeout_s, RetryPolicy(max_retries=ep.max_retries), bearer(ep.api_key)


class HelixPlatform:
    """Sync port on Helix v2 (tasks and operators)."""

    def __init__(self, endpoints: HelixEndpoints) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.workspace
        self.flows = HelixFlows(endpoints)
        self.http = SyncHttp(*_http_args(endpoints))

    def __enter__(self) -> HelixPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"HelixPlatform({self.endpoints!r})"

    def ensure_namespace(self) -> None:
        self.http.run(self.flows.ops.ensure_workspace("flywheel"))

    def upload_dataset(self, name: str, files: dict[str, Path], description: str = "") -> str:
        """One fileset per dataset; returns ``ws/fileset`` (files are ``ws/fileset/<path>`` to the DAG)."""
        if not files:
            raise ValueError(f"dataset {name}: no files to upload")
        content = {path: Path(local).read_bytes() for path, local in files.items()}
        return self.http.run(self.flows.ops.upload_files(T.fileset_name(name), content, description))

    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> DeploymentInfo:
        marks = {str(k): str(v) for k, v in custom_fields.items()}
        body = P.deployment_config_body(nim, nim.deployment_name, marks, lora=nim.customizer is not None)
        return self.http.run(self.flows.ops.create_deployment(body, nim.deployment_name))

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        return self.http.run(self.flows.get_deployment(name))

    def list_deployments(self) -> list[DeploymentInfo]:
        return self.http.run(self.flows.ops.deployments())

    def delete_deployment(self, name: str) -> bool:
        return self.http.run(self.flows.delete_deployment(name))

    def list_models(self) -> list[str]:
        return self.http.run(self.flows.list_models())

    def inference_name(self, model: str) -> str:
        """Inference on Helix goes through the workspace's gateway, under its ``ws/...`` names."""
        return self.http.run(self.flows.gateway_name(model))

    def inference_endpoint(self, served_url: str | None, api_key: str | None = None) -> tuple[str, str | None]:
        """Every candidate, served elsewhere or not, answers through the workspace's gateway (which holds a
        served candidate's own key as a secret: see :meth:`serve_candidate`)."""
        return self.endpoints.gateway_url, self.endpoints.api_key

    def serve_candidate(self, nim: NimConfig, custom_fields: dict[str, str], api_key: str | None = None) -> str | None:
        """Register the candidate's endpoint as a provider of ours (one per run, so two workloads can
        evaluate the same endpoint at once); returns the name the DAG waits for in :meth:`list_models`.
        Its ``api_key`` goes to a workspace secret (kept, like the judge's: one per URL and model) that the
        provider names; the key itself is in no provider, job or log."""
        marks = {str(k): str(v) for k, v in custom_fields.items()}
        return self.http.run(self.flows.serve_candidate(nim, marks, api_key))

    def release_candidate(self, nim: NimConfig, owner_fields: dict[str, str]) -> bool:
        """Remove the provider :meth:`serve_candidate` registered for this run (never anyone else's)."""
        return self.http.run(self.flows.release_candidate(nim, owner_fields))

    def chat(self, model: str, messages: list[JsonObject], **params: JsonValue) -> JsonObject:
        return self.http.run(self.flows.chat(model, messages, dict(params)))

    def embed(self, texts: list[str], model: str, batch_size: int = 32) -> list[list[float]]:
        url = f"{self.endpoints.gateway_url}/v1/embeddings"
        return embed_texts(self.http, url, self.inference_name(model), texts, batch_size)

    def ensure_customization_config(self, nim: NimConfig, training: TrainingConfig) -> str:
        return self.http.run(self.flows.ensure_customization_config(nim))

    def create_customization(self, spec: CustomizationSpec, request_id: str | None = None) -> tuple[str, str]:
        return self.http.run(self.flows.create_customization(spec, request_id))

    def find_customization(self, request_id: str) -> tuple[str, str] | None:
        return self.http.run(self.flows.find_customization(request_id))

    def list_customizations(self) -> list[tuple[str, JobState, dict[str, str]]]:
        return self.http.run(self.flows.list_customizations())

    def get_customization(self, job_id: str) -> JobState:
        return self.http.run(self.flows.get_customization(job_id))

    def cancel_customization(self, job_id: str) -> None:
        self.http.run(self.flows.cancel_customization(job_id))

    def mark_model(self, model_id: str, custom_fields: Mapping[str, JsonValue]) -> JsonObject:
        return self.http.run(self.flows.mark_model(model_id, dict(custom_fields)))

    def create_evaluation(self, config: EvaluationSpec, target: EvaluationTarget, request_id: str | None = None) -> str:
        return self.http.run(self.flows.create_evaluation(config, target, request_id))

    def find_evaluation(self, request_id: str) -> str | None:
        return self.http.run(self.flows.find_evaluation(request_id))

    def get_evaluation(self, job_id: str) -> JobState:
        return self.http.run(self.flows.ops.evaluation_state(job_id))

    def evaluation_results(self, job_id: str) -> EvaluationResults:
        return self.http.run(self.flows.evaluation_results(job_id))

    def evaluation_rows(self, job_id: str) -> list[EvalRow]:
        return self.http.run(self.flows.evaluation_rows(job_id))

    def cancel_evaluation(self, job_id: str) -> None:
        self.http.run(self.flows.ops.cancel_evaluation(job_id))


class AsyncHelixPlatform:
    """Async port on Helix v2 (deferrable triggers): the same operations, driven over the async transport."""

    def __init__(self, endpoints: HelixEndpoints) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.workspace
        self.flows = HelixFlows(endpoints)
        self.http = AsyncHttp(*_http_args(endpoints))

    async def __aenter__(self) -> AsyncHelixPlatform:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    def __repr__(self) -> str:
        return f"AsyncHelixPlatform({self.endpoints!r})"

    async def get_deployment(self, name: str) -> DeploymentInfo | None:
        return await self.http.run(self.flows.get_deployment(name))

    async def delete_deployment(self, name: str) -> bool:
        return await self.http.run(self.flows.delete_deployment(name))

    async def list_models(self) -> list[str]:
        return await self.http.run(self.flows.list_models())

    async def get_customization(self, job_id: str) -> JobState:
        return await self.http.run(self.flows.get_customization(job_id))

    async def get_evaluation(self, job_id: str) -> JobState:
        return await self.http.run(self.flows.ops.evaluation_state(job_id))

    async def evaluation_results(self, job_id: str) -> EvaluationResults:
        return await self.http.run(self.flows.evaluation_results(job_id))

    async def evaluation_rows(self, job_id: str) -> list[EvalRow]:
        return await self.http.run(self.flows.evaluation_rows(job_id))

    async def cancel_customization(self, job_id: str) -> None:
        await self.http.run(self.flows.cancel_customization(job_id))

    async def cancel_evaluation(self, job_id: str) -> None:
        await self.http.run(self.flows.ops.cancel_evaluation(job_id))
