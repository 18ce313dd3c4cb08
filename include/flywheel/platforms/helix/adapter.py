"""The ``helix`` adapter of the platform port (:mod:`flywheel.platforms.port`) over :class:`HelixClient`.

Objects are named from the DAG's deterministic request ids (``eval-<id>``, ``cust-<id>``), so finding
the job an earlier try created is one GET by name, and Helix's 409 on a second create is the proof
that no duplicate exists. Ownership marks go where NMP keeps ``custom_fields``: on jobs as such, on
deployment configs and providers in their description (:func:`flywheel.platforms.marks.mark_text`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flywheel.config import NimConfig, TrainingConfig
from flywheel.platforms.core.embeddings import embed_texts
from flywheel.platforms.core.errors import NemoNotFoundError
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.platforms.core.states import DeploymentInfo, JobState
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix import translate as T
from flywheel.platforms.helix.aclient import AsyncHelixClient
from flywheel.platforms.helix.client import HelixClient
from flywheel.platforms.helix.endpoints import HelixEndpoints
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


def served_names(providers: list[dict[str, Any]], gateway: list[str]) -> dict[str, str]:
    """{model name as its provider serves it: ``ws/entity`` in the gateway}, for READY providers whose
    model the gateway lists."""
    listed, out = set(gateway), {}
    for p in providers:
        if str(p.get("status", "")).upper() != "READY":
            continue
        for served in p.get("served_models") or []:
            entity = str(served.get("model_entity_id") or "")
            if entity in listed and served.get("served_model_name"):
                out[str(served["served_model_name"])] = entity
    return out


def _client_args(ep: HelixEndpoints) -> tuple[tuple[str, str], dict[str, Any]]:
    """What the sync and the async Helix client are both built from."""
    kwargs = {
        "timeout_s": ep.timeout_s,
        "policy": RetryPolicy(max_retries=ep.max_retries),
        "api_key": ep.api_key,
        "gpu_base_url": ep.gpu_url,
    }
    return (ep.base_url, ep.workspace), kwargs


class HelixPlatform:
    """Sync port on Helix v2 (tasks and operators)."""

    def __init__(self, endpoints: HelixEndpoints) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.workspace
        args, kwargs = _client_args(endpoints)
        self.client = HelixClient(*args, **kwargs)

    def __enter__(self) -> HelixPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"HelixPlatform({self.endpoints!r})"

    # ------------------------------------------------------------------ workspace and datasets
    def ensure_namespace(self) -> None:
        self.client.ensure_workspace("flywheel")

    def upload_dataset(self, name: str, files: dict[str, Path], description: str = "") -> str:
        """One fileset per dataset; returns ``ws/fileset`` (files are ``ws/fileset/<path>`` to the DAG)."""
        if not files:
            raise ValueError(f"dataset {name}: no files to upload")
        content = {path: Path(local).read_bytes() for path, local in files.items()}
        return self.client.upload_files(T.fileset_name(name), content, description)

    # ------------------------------------------------------------------ deployments (+ their provider)
    def create_deployment(self, nim: NimConfig, custom_fields: dict[str, str]) -> DeploymentInfo:
        name = nim.deployment_name
        marks = {str(k): str(v) for k, v in custom_fields.items()}
        body = P.deployment_config_body(nim, name, marks, lora=nim.customizer is not None)
        return self.client.create_deployment(body, name)

    def get_deployment(self, name: str) -> DeploymentInfo | None:
        info = self.client.deployment(name)
        if info is not None and info.is_ready and self.endpoints.provider_url:
            self._ensure_provider(info)
        return info

    def _ensure_provider(self, info: DeploymentInfo) -> None:
        """What Helix does for a READY deployment on its own cluster, done for a stand-in one: register
        the provider that serves it (marked like the deployment)."""
        if self.client.provider(info.name) is not None:
            return
        config = self.client.deployment_config(str(info.raw["config"]))
        body = provider_for(info, config, str(self.endpoints.provider_url))
        if body is not None:
            self.client.register_provider(body)

    def list_deployments(self) -> list[DeploymentInfo]:
        return self.client.deployments()

    def delete_deployment(self, name: str) -> bool:
        """Delete our deployment, its config and the provider we registered for it; False if already gone."""
        deleted = self.client.delete_deployment(name)
        for adapter in adapter_providers_of(name, self.client.providers(), self.ns):
            self.client.delete_provider(adapter)
        self.client.delete_provider(name)
        return deleted

    # ------------------------------------------------------------------ serving
    def served(self) -> dict[str, str]:
        return served_names(self.client.providers(), self.client.gateway_models())

    def list_models(self) -> list[str]:
        """What the gateway answers for: its ``ws/entity`` names, the names providers serve them under,
        and the adapters it routes (one-token probe: Helix lists no adapter names)."""
        gateway, providers = self.client.gateway_models(), self.client.providers()
        adapters = [a for a in adapter_names(providers, gateway) if self.client.routes(a)]
        return sorted({*gateway, *served_names(providers, gateway), *adapters})

    def gateway_name(self, model: str) -> str:
        """The gateway's name for ``model`` (a served model name, or already ``ws/...``)."""
        if model.startswith(f"{self.ns}/"):
            return model
        found = self.served().get(model)
        if found is None:
            raise NemoNotFoundError(f"model {model} is not served through the gateway of workspace {self.ns}")
        return found

    def inference_name(self, model: str) -> str:
        """Inference on Helix goes through the workspace's gateway, under its ``ws/...`` names."""
        return self.gateway_name(model)

    def inference_endpoint(self, served_url: str | None, api_key: str | None = None) -> tuple[str, str | None]:
        """Every candidate, served elsewhere or not, answers through the workspace's gateway (which holds a
        served candidate's own key as a secret: see :meth:`serve_candidate`)."""
        return self.endpoints.gateway_url, self.endpoints.api_key

    # ------------------------------------------------------------------ candidates served elsewhere
    def serve_candidate(self, nim: NimConfig, custom_fields: dict[str, str], api_key: str | None = None) -> str | None:
        """Register the candidate's endpoint as a provider of ours (one per run, so two workloads can
        evaluate the same endpoint at once); returns the name the DAG waits for in :meth:`list_models`.
        Its ``api_key`` goes to a workspace secret (kept, like the judge's: one per URL and model) that the
        provider names; the key itself is in no provider, job or log."""
        marks = {str(k): str(v) for k, v in custom_fields.items()}
        name, url = P.served_provider_name(nim, marks.get(RUN, "")), str(nim.served_url)
        secret = None
        if api_key:
            secret = P.served_secret_name(url, nim.model_name)
            self.client.put_secret(secret, api_key, P.served_secret_description(url, nim.model_name))
        if self.client.provider(name) is None:
            self.client.register_provider(P.provider_body(name, url, [nim.model_name], marks, secret))
        return nim.model_name

    def release_candidate(self, nim: NimConfig, owner_fields: dict[str, str]) -> bool:
        """Remove the provider :meth:`serve_candidate` registered for this run (never anyone else's)."""
        name = P.served_provider_name(nim, owner_fields.get(RUN, ""))
        found = self.client.provider(name)
        owner = OwnerMark.read(owner_fields)
        if found is None or owner is None or not owner.owns(read_marks(found.get("description"))):
            return False
        return self.client.delete_provider(name)

    def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        return self.client.chat(self.gateway_name(model), messages, **params)[1]

    def embed(self, texts: list[str], model: str, batch_size: int = 32) -> list[list[float]]:
        url = f"{self.endpoints.gateway_url}/v1/embeddings"
        return embed_texts(self.client.http, url, self.gateway_name(model), texts, batch_size)

    # ------------------------------------------------------------------ customization (automodel)
    def ensure_customization_config(self, nim: NimConfig, training: TrainingConfig) -> str:
        """Helix has no customization configs: a job names its base model (``ws/entity``) directly."""
        served = self.served().get(nim.model_name)
        return served or f"{self.ns}/{P.entity_name(nim.model_name)}"

    def create_customization(self, payload: dict[str, Any], request_id: str | None = None) -> tuple[str, str]:
        request_id = request_id or uuid.uuid4().hex
        name = P.helix_name("cust", request_id)
        training, lora = T.training_settings(payload)
        output = P.helix_name(str(payload["output_model"]).rsplit("/", 1)[-1])
        marks = {**(payload.get("custom_fields") or {}), T.REQUEST_ID: request_id}
        dataset = f"{self.ns}/{T.fileset_name(payload['dataset']['name'])}"
        body = P.automodel_job(name, str(payload["config"]), dataset, None, output, training, lora, marks)
        return self.client.start_customization(body), self._adapter(body)

    def _adapter(self, job: dict[str, Any]) -> str:
        spec = job.get("spec") or {}
        return f"{spec['model']}&adapters/{self.ns}/{spec['output']['name']}"

    def find_customization(self, request_id: str) -> tuple[str, str] | None:
        job = self.client.automodel_job(P.helix_name("cust", request_id))
        return None if job is None else (str(job["name"]), self._adapter(job))

    def list_customizations(self) -> list[tuple[str, JobState, dict[str, str]]]:
        out = []
        for j in self.client.automodel_jobs():
            fields = {str(k): str(v) for k, v in (j.get("custom_fields") or {}).items()}
            out.append((str(j["name"]), job_state(j, "customization"), fields))
        return out

    def get_customization(self, job_id: str) -> JobState:
        state = self.client.customization_state(job_id)
        if state.succeeded and self.endpoints.provider_url:
            self._serve_adapter(job_id)
        return state

    def _serve_adapter(self, job_id: str) -> None:
        """See :mod:`flywheel.platforms.helix.standin`: route a finished adapter on a stand-in cluster."""
        if self.client.provider(job_id) is not None:
            return
        route = adapter_route(self.client.customization(job_id), self.client.providers(), self.ns)
        if route is not None:
            provider, status = route
            self.client.register_provider(provider)
            self.client.set_provider_status(job_id, status)

    def cancel_customization(self, job_id: str) -> None:
        self.client.cancel_customization(job_id)

    def mark_model(self, model_id: str, custom_fields: dict[str, Any]) -> dict[str, Any]:
        """Merge ``custom_fields`` into the model entity's; for an adapter (which has no entity of its
        own on Helix) into its base entity's, under ``flywheel_adapters.<adapter gateway name>``."""
        return self.client.write_reread(lambda: self._mark_model_once(model_id, custom_fields))

    def _mark_model_once(self, model_id: str, custom_fields: dict[str, Any]) -> dict[str, Any]:
        entity = self.gateway_name(model_id)
        base = base_of(entity)
        ws, _, name = (base or entity).partition("/")
        current = self.client.model_entity(ws, name)
        if current is None and self.endpoints.provider_url and ws == self.ns:
            # a cluster keeps the entity a deployment was made from; Helix deletes the one its discovery
            # made for a stand-in NIM with that NIM's provider, so the stand-in puts it back
            current = self.client.ensure_model_entity(ws, name)
        if current is None:
            raise NemoNotFoundError(f"model entity {base or entity} not found in Helix (marking {model_id})")
        fields = dict(current.get("custom_fields") or {})
        if base is None:
            fields.update(custom_fields)
        else:
            adapters = dict(fields.get(ADAPTER_MARKS) or {})
            adapters[entity] = {**(adapters.get(entity) or {}), **custom_fields}
            fields[ADAPTER_MARKS] = adapters
        return self.client.set_model_fields(ws, name, fields)

    # ------------------------------------------------------------------ evaluation
    def create_evaluation(self, config: dict[str, Any], target: dict[str, Any], request_id: str | None = None) -> str:
        request_id = request_id or uuid.uuid4().hex
        workload_type, task = T.evaluation_parts(config)
        dataset = task.get("dataset") or {}
        judge = T.judge_model(task)
        if isinstance(judge, dict):
            endpoint = judge.get("api_endpoint") or {}
            url, model = str(endpoint["url"]), str(endpoint["model_id"])
            secret = None
            if endpoint.get("api_key"):  # the key goes to a workspace secret; the job names only the secret
                secret = P.judge_secret_name(url, model)
                self.client.put_secret(secret, str(endpoint["api_key"]), P.judge_secret_description(url, model))
            judge_target: P.ModelTarget | None = P.ModelTarget(url, model, secret)
        else:
            judge_target = self.client.target(self.gateway_name(judge)) if judge else None
        spec = P.evaluation_spec(
            workload_type,
            T.file_ref(str(dataset["files_url"])),
            self.client.target(self.gateway_name(T.target_model(target))),
            judge_target,
            dataset.get("limit"),
        )
        marks = {T.REQUEST_ID: request_id, "flywheel_workload_type": workload_type}
        return self.client.start_evaluation(P.evaluation_job(P.helix_name("eval", request_id), spec, marks))

    def find_evaluation(self, request_id: str) -> str | None:
        job = self.client.evaluation_job(P.helix_name("eval", request_id))
        return None if job is None else str(job["name"])

    def get_evaluation(self, job_id: str) -> JobState:
        return self.client.evaluation_state(job_id)

    def evaluation_results(self, job_id: str) -> dict[str, Any]:
        job = self.client.evaluation_job(job_id)
        if job is None:
            raise NemoNotFoundError(f"evaluation job {job_id} not found in Helix")
        workload_type = str((job.get("custom_fields") or {}).get("flywheel_workload_type") or "")
        rows = self.client.row_scores(job_id) if workload_type == "classification" else None
        return T.nmp_results(workload_type, self.client.eval_result(job_id), rows)

    def cancel_evaluation(self, job_id: str) -> None:
        self.client.cancel_evaluation(job_id)


class AsyncHelixPlatform:
    """Async port on Helix v2 (deferrable triggers)."""

    def __init__(self, endpoints: HelixEndpoints) -> None:
        self.endpoints = endpoints
        self.ns = endpoints.workspace
        args, kwargs = _client_args(endpoints)
        self.client = AsyncHelixClient(*args, **kwargs)

    async def __aenter__(self) -> AsyncHelixPlatform:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.client.close()

    def __repr__(self) -> str:
        return f"AsyncHelixPlatform({self.endpoints!r})"

    async def get_deployment(self, name: str) -> DeploymentInfo | None:
        info = await self.client.deployment(name)
        if info is not None and info.is_ready and self.endpoints.provider_url:
            await self._ensure_provider(info)
        return info

    async def _ensure_provider(self, info: DeploymentInfo) -> None:
        if await self.client.provider(info.name) is not None:
            return
        config = await self.client.deployment_config(str(info.raw["config"]))
        body = provider_for(info, config, str(self.endpoints.provider_url))
        if body is not None:
            await self.client.register_provider(body)

    async def delete_deployment(self, name: str) -> bool:
        deleted = await self.client.delete_deployment(name)
        providers = await self._providers()
        ours = {str(p["name"]) for p in providers if read_marks(p.get("description")) is not None}
        for provider in [*adapter_providers_of(name, providers, self.ns), name]:
            if provider in ours:
                await self.client.remove_provider(provider)
        return deleted

    async def _providers(self) -> list[dict[str, Any]]:
        return await self.client.providers()

    async def list_models(self) -> list[str]:
        gateway = await self.client.gateway_models()
        providers = await self._providers()
        adapters = [a for a in adapter_names(providers, gateway) if await self.client.routes(a)]
        return sorted({*gateway, *served_names(providers, gateway), *adapters})

    async def get_customization(self, job_id: str) -> JobState:
        state = await self.client.customization_state(job_id)
        if state.succeeded and self.endpoints.provider_url:
            await self._serve_adapter(job_id)
        return state

    async def _serve_adapter(self, job_id: str) -> None:
        if await self.client.provider(job_id) is not None:
            return
        job = await self.client.customization(job_id)
        route = adapter_route(job, await self._providers(), self.ns)
        if route is not None:
            provider, status = route
            await self.client.register_provider(provider)
            await self.client.set_provider_status(job_id, status)

    async def get_evaluation(self, job_id: str) -> JobState:
        return await self.client.evaluation_state(job_id)

    async def cancel_customization(self, job_id: str) -> None:
        await self.client.cancel_customization(job_id)

    async def cancel_evaluation(self, job_id: str) -> None:
        await self.client.cancel_evaluation(job_id)
