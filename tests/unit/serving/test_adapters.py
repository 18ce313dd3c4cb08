"""The adapters offline: the gateway's config and routing file, the ConfigMap manifest as the Kubernetes client
reads it, and the hook file loadable without the flywheel package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from flywheel.serving.adapters.configmap import DATA_KEY, configmap_manifest, routing_of
from flywheel.serving.adapters.gateway import HOOK_SOURCE, GatewayChat, GatewayTarget, write_gateway_config
from flywheel.serving.routing import Route, RoutingDoc


def test_gateway_config_routes_every_model_upstream_and_loads_the_hook(tmp_path: Path) -> None:
    path = write_gateway_config(tmp_path / "gw", "http://127.0.0.1:9/")
    config = yaml.safe_load(path.read_text())
    (entry,) = config["model_list"]
    assert entry["model_name"] == "*"
    assert entry["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"
    assert entry["litellm_params"]["api_key"] == "os.environ/FLYWHEEL_UPSTREAM_KEY"  # the key is not in the file
    assert config["litellm_settings"]["callbacks"] == "flywheel_hook.handler"
    assert (tmp_path / "gw" / "flywheel_hook.py").read_text() == HOOK_SOURCE.read_text()


def test_the_hook_imports_only_the_standard_library_and_litellm() -> None:
    tree = ast.parse(HOOK_SOURCE.read_text())
    roots = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]  # type: ignore[union-attr]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n.names[0]])
    }
    assert roots == {"__future__", "json", "os", "random", "threading", "time", "pathlib", "typing", "litellm"}


def test_gateway_target_keeps_other_workloads(tmp_path: Path) -> None:
    target = GatewayTarget(str(tmp_path / "routing.json"))
    assert target.current("a") is None
    target.apply(Route(workload_id="a", incumbent="m1"))
    target.apply(Route(workload_id="b", incumbent="m2", candidate="m3", candidate_weight=5, step="canary"))
    target.apply(Route(workload_id="a", incumbent="m1", candidate="m4", candidate_weight=100, step="full"))
    a, b = target.current("a"), target.current("b")
    assert a is not None and a.primary == "m4"
    assert b is not None and b.candidate_weight == 5
    assert "secret" not in repr(GatewayChat("http://gw", api_key="secret"))


def test_configmap_manifest_is_a_valid_kubernetes_configmap() -> None:
    from kubernetes.client import ApiClient, V1ConfigMap

    doc = RoutingDoc(routes={"w": Route(workload_id="w", incumbent="a", candidate="b", candidate_weight=25)})
    manifest = configmap_manifest(doc, "serving", "flywheel-routing")

    class Answer:  # the client deserializes a response body; this is the body the API server would send
        data = json.dumps(manifest)

    cm = ApiClient().deserialize(Answer(), "V1ConfigMap")
    assert isinstance(cm, V1ConfigMap)
    assert (cm.metadata.name, cm.metadata.namespace, cm.kind) == ("flywheel-routing", "serving", "ConfigMap")
    assert routing_of(cm.data) == doc
    assert set(cm.data) == {DATA_KEY}
    assert routing_of(None) == RoutingDoc()
    assert ApiClient().sanitize_for_serialization(cm) == manifest
