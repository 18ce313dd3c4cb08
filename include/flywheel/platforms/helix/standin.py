"""What a Helix cluster does on its own for a deployment, done by the adapter when the GPU work is served
by a stand-in (``HelixEndpoints.provider_url``: the emulator in tests and ``make demo``).

On a cluster, a READY deployment gets a provider, and Helix's models controller discovers the LoRA
adapters its NIM loads and routes each as ``<ws>/<base>&adapters/<ws>/<adapter>``. A stand-in NIM is an
external endpoint to Helix, and Helix only routes adapter names for providers tied to a deployment it
knows. So for each finished adapter the adapter registers one provider tied (``model_deployment_id``)
to our deployment and publishes the adapter's route on it, as the controller would. Helix cannot see
the stand-in deployment, so its controller leaves that route alone. Both providers carry our marks and
go when the deployment is deleted.
"""

from __future__ import annotations

from flywheel.jsontypes import JsonObject
from flywheel.platforms.core.jsonread import obj, objs, text
from flywheel.platforms.core.states import DeploymentInfo
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.marks import read_marks

ADAPTER_INFIX = "&adapters/"
# an adapter has no model entity of its own on Helix: its marks live on its base entity, under this key
ADAPTER_MARKS = "flywheel_adapters"


def base_of(model: str) -> str | None:
    """The base gateway name of an adapter's gateway name (None for a plain model)."""
    base, sep, _ = model.partition(ADAPTER_INFIX)
    return base if sep else None


def provider_for(info: DeploymentInfo, config: JsonObject, host_url: str) -> JsonObject | None:
    """The provider body serving a deployment of ours (None for one without our marks)."""
    if not info.custom_fields:
        return None
    spec = obj(config.get("model_spec"))
    model = "/".join(p for p in (text(spec.get("model_namespace")), text(spec.get("model_name"))) if p)
    return P.provider_body(info.name, host_url, [model], dict(info.custom_fields))


def adapter_route(job: JsonObject, providers: list[JsonObject], workspace: str) -> tuple[JsonObject, JsonObject] | None:
    """(provider body, status body) routing a finished LoRA job's adapter to the NIM of our deployment
    that serves its base model; None when no provider of ours serves that base (the deployment is gone)."""
    spec = obj(job.get("spec"))
    output = text(obj(spec.get("output")).get("name"))
    base = text(spec.get("model"))
    if not output or not base:
        return None
    adapter = f"{workspace}/{output}"
    for p in providers:
        marks = read_marks(text(p.get("description")) or None)
        if marks is None or p.get("model_deployment_id"):
            continue
        if any(s.get("model_entity_id") == base for s in objs(p.get("served_models"))):
            body = P.provider_body(text(job.get("name")), text(p.get("host_url")), [adapter], marks)
            body["model_deployment_id"] = f"{workspace}/{text(p.get('name'))}"
            served: JsonObject = {"model_entity_id": f"{base}{ADAPTER_INFIX}{adapter}", "served_model_name": adapter}
            return body, {"served_models": [served], "status": "READY"}
    return None


def adapter_providers_of(deployment: str, providers: list[JsonObject], workspace: str) -> list[str]:
    """Names of the adapter providers of ours tied to a deployment."""
    tied = f"{workspace}/{deployment}"
    return [
        text(p.get("name"))
        for p in providers
        if p.get("model_deployment_id") == tied and read_marks(text(p.get("description")) or None) is not None
    ]


def adapter_names(providers: list[JsonObject], gateway: list[str]) -> list[str]:
    """Adapter gateway names published on READY providers whose base model the gateway lists."""
    listed, out = set(gateway), []
    for p in providers:
        if text(p.get("status")).upper() != "READY":
            continue
        for served in objs(p.get("served_models")):
            entity = text(served.get("model_entity_id"))
            if base_of(entity) in listed:
                out.append(entity)
    return out
