"""The routing document as a Kubernetes ConfigMap (``routing.json``) that the gateway's pod mounts for the
flywheel hook (``FLYWHEEL_ROUTING_FILE`` = the mounted file). Building and reading the manifest is here;
writing it goes through the cncf-kubernetes provider's hook (``flywheel.airflow.rollout``)."""

from __future__ import annotations

from collections.abc import Mapping

from flywheel.serving.routing import RoutingDoc

DATA_KEY = "routing.json"
MANAGED_BY = {"app.kubernetes.io/managed-by": "airflow-data-flywheel"}


def configmap_manifest(doc: RoutingDoc, namespace: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": {DATA_KEY: doc.to_json()},
    }


def routing_of(data: Mapping[str, str] | None) -> RoutingDoc:
    """The document held by a ConfigMap's ``data`` (an empty one when it has none)."""
    text = (data or {}).get(DATA_KEY)
    return RoutingDoc.model_validate_json(text) if text else RoutingDoc()
