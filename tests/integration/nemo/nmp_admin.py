"""Calls the tests make on an NMP platform that the product never makes (clean-ups, raw submissions):
kept here, over the client's public transport and URLs, so the product's client holds only what it uses."""

from __future__ import annotations

from flywheel.jsontypes import JsonObject
from flywheel.platforms.core.errors import NemoError
from flywheel.platforms.marks import PROMOTED
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.nmp.ops import answer


def delete_dataset(c: NemoClient, name: str) -> None:
    """Delete a dataset's files (Data Store) and its registration (Entity Store); absent is fine."""
    body = {"name": name, "organization": c.ns, "type": "dataset"}
    c.http.call("DELETE", c.ops.ds("/v1/hf/api/repos/delete"), allow=(404,), parse=False, json_body=body)
    c.http.call("DELETE", c.ops.base(f"/v1/datasets/{c.ns}/{name}"), allow=(404,), parse=False)


def customization_targets(c: NemoClient) -> list[str]:
    """Targets the Customizer offers, as ``namespace/name``."""
    targets = c.http.run(c.ops.pages(c.ops.base("/v1/customization/targets")))
    return [f"{t['namespace']}/{t['name']}" for t in targets if t.get("namespace") and t.get("name")]


def delete_evaluation(c: NemoClient, job_id: str) -> None:
    c.http.call("DELETE", c.ops.base(f"/v1/evaluation/jobs/{job_id}"), allow=(404,), parse=False)


def delete_model(c: NemoClient, model_id: str) -> bool:
    """Delete a model entity; one marked promoted is refused (the mark protects it)."""
    current = c.get_model(model_id)
    fields = current.get("custom_fields") if current else None
    if isinstance(fields, dict) and fields.get(PROMOTED):
        raise NemoError(f"model {model_id} is promoted ({PROMOTED}); not deleting it")
    return c.http.call("DELETE", c.ops.base(f"/v1/models/{model_id}"), allow=(404,), parse=False).status != 404


def submit_evaluation(c: NemoClient, config: JsonObject, target: JsonObject) -> str:
    """POST an NMP evaluation job as given (for configs the port would never build)."""
    body: JsonObject = {"config": config, "target": target, "namespace": c.ns}
    return str(answer(c.http.call("POST", c.ops.base("/v1/evaluation/jobs"), json_body=body), "evaluation")["id"])
