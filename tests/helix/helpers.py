"""Steps the Helix tests share: deploy a candidate on the emulated GPU pool, serve models through a Helix
provider, put eval records where both the NIM stand-in and Helix read them."""

from __future__ import annotations

from typing import Any

import httpx

from flywheel.config import NimConfig
from flywheel.platforms.core.states import DeploymentInfo
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.client import HelixClient
from flywheel.platforms.helix.endpoints import HelixEndpoints
from tests.integration.emulator.conftest import Emulator
from tests.integration.emulator.seed import upload
from tests.support.waiting import wait_for
from tests.unit.emulator.records import jsonl

CANDIDATE = "meta/llama-3.2-1b-instruct"
JUDGE = "meta/llama-3.3-70b-instruct"
MARKS = {"flywheel_role": "candidate", "flywheel_run": "helix-test/run-1"}
PROVIDER = "flywheel-emulator"


def deploy_candidate(client: HelixClient, model: str = CANDIDATE) -> tuple[DeploymentInfo, list[str]]:
    """Deploy ``model`` (v2 routes on the emulator); the Helix statuses seen on the way to READY."""
    name = P.helix_name("dfw", model)
    body = P.deployment_config_body(NimConfig(model_name=model), name, MARKS, lora=True)
    first = client.create_deployment(body, name)
    seen = [str(first.raw["status"])]

    def ready() -> DeploymentInfo | None:
        d = client.deployment(name)
        assert d is not None, f"deployment {name} vanished"
        if d.raw["status"] != seen[-1]:
            seen.append(str(d.raw["status"]))
        return d if d.is_ready or d.is_failed else None

    return wait_for(ready, 30, f"deployment {name} READY or ERROR", interval=0.02), seen


def serve(client: HelixClient, emu: Emulator, models: list[str], provider: str = PROVIDER) -> dict[str, str]:
    """Register the emulator's NIM as a Helix provider; the gateway entity of each model once served."""
    client.register_provider(P.provider_body(provider, emu.url, models, {"flywheel_role": "provider"}))
    return {
        m: wait_for(lambda m=m: client.served_entity(provider, m), 90, f"{m} served by the gateway") for m in models
    }


def seed_eval(client: HelixClient, emu: Emulator, fileset: str, records: list[dict[str, Any]]) -> str:
    """The eval file in a Helix fileset (what Helix evaluates) and in the emulator's Data Store (what lets
    the NIM stand-in answer those prompts the way a trained candidate would). Returns ``ws/fileset``."""
    data = jsonl(records)
    emu.call("POST", "/v1/namespaces", json={"id": client.workspace}, expect=None)
    emu.call("POST", "/v1/datastore/namespaces", data={"namespace": client.workspace}, expect=None)
    upload(emu, client.workspace, fileset, {"eval_data.jsonl": data})
    return client.upload_files(fileset, {"eval_data.jsonl": data})


# ------------------------------------------------------------------ calls only the tests make on Helix
# (the product's client holds only what the product uses; these go through its public operations)
def health(client: HelixClient) -> bool:
    """Helix answers /health/ready with 200 (one try)."""
    try:
        return client.http.client.get(client.base_url + "/health/ready").status_code == 200
    except httpx.HTTPError:
        return False


def secret(client: HelixClient, name: str) -> dict[str, Any] | None:
    """A secret's metadata (Helix never returns the value here), or None."""
    return client.run(client.ops.maybe(client.paths.secret(name)))


def list_files(client: HelixClient, fileset: str) -> list[str]:
    body = client.run(client.ops.request(client.ops.call("GET", client.paths.fileset_files(fileset))))
    return sorted(str(f["path"]) for f in body.get("data") or [])


def delete_fileset(client: HelixClient, name: str) -> bool:
    return client.run(client.ops.delete(client.paths.fileset(name)))


def active_jobs(client: HelixClient) -> list[dict[str, Any]]:
    """Every job of the workspace not yet finished, whatever service started it."""
    from flywheel.platforms.helix.states import JOB_ACTIVE

    url = client.base_url + client.paths.jobs()
    data = client.http.call("GET", url, params={"page_size": 1000}).obj()
    jobs = [j for j in data.get("data") or [] if isinstance(j, dict)]
    return [j for j in jobs if str(j.get("status", "")).lower() in JOB_ACTIVE]


def customization_output(client: HelixClient, name: str) -> str:
    """The gateway model name of a finished job's adapter (Helix 0.8.1: ``<ws>/<model>&adapters/<ws>/<adapter>``)."""
    spec = client.customization(name).get("spec") or {}
    output = spec.get("output") or {}
    return f"{spec['model']}&adapters/{client.workspace}/{output['name']}"


def client_of(ep: HelixEndpoints) -> HelixClient:
    """A Helix client on the same services as the adapter built from ``ep`` (to look behind the port)."""
    return HelixClient(ep.base_url, ep.workspace, gpu_base_url=ep.gpu_url, api_key=ep.api_key, timeout_s=ep.timeout_s)
