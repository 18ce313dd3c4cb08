"""The serving port: what the rollout DAG asks of a serving target. Two adapters implement it:
:class:`~flywheel.serving.adapters.gateway.GatewayTarget` (a LiteLLM proxy with the flywheel hook, routing
file on a shared disk) and :class:`~flywheel.serving.adapters.configmap.ConfigMapTarget` (the same routing
document in a Kubernetes ConfigMap the gateway mounts; written through the cncf-kubernetes provider)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from flywheel.serving.routing import Route


class ServingTarget(Protocol):
    name: str

    def current(self, workload_id: str) -> Route | None:
        """The route serving the workload now (None: the flywheel never routed it)."""
        ...

    def apply(self, route: Route) -> None:
        """Make ``route`` the workload's routing (idempotent)."""
        ...


class ChatClient(Protocol):
    def chat(self, model: str, request: Mapping[str, object]) -> Mapping[str, object]:
        """One chat completion of ``request`` answered by ``model`` exactly (no weighted routing)."""
        ...
