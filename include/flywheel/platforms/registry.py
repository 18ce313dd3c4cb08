"""The one way into a backend: ``platform.kind`` + where it lives → the port's implementation.

The Airflow hook, the triggers (which carry the kind, never a secret) and the CLI call these functions;
nothing outside ``platforms/`` imports ``platforms.nmp`` or ``platforms.helix`` (an import contract).
A backend's modules are imported only when that backend is opened.

:class:`Access` is what a Connection (or the CLI's flags and environment) says: a URL, the key, the
namespace and the backend's extras (``nmp``: ``nim_url``, ``datastore_url``; ``helix``: ``gpu_url``,
``provider_url``). Neither the key nor the extras appear in its ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from flywheel.platforms.nmp.endpoints import NemoEndpoints
from flywheel.platforms.port import PLATFORM_KINDS, AsyncPlatform, Platform

if TYPE_CHECKING:
    from flywheel.platforms.helix.endpoints import HelixEndpoints

# What the Airflow layer and the CLI name when they need a platform's inference URL and key (latency,
# health checks): the NMP endpoint shape, which both backends fill (Helix with its workspace's gateway).
InferenceEndpoints = NemoEndpoints

__all__ = [
    "Access",
    "InferenceEndpoints",
    "check_kind",
    "inference_endpoints",
    "open_async_platform",
    "open_platform",
    "resource_url",
]


@dataclass(frozen=True)
class Access:
    url: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)  # a connection's extra may hold anything
    timeout_s: float = 30.0
    max_retries: int = 5

    def option(self, name: str) -> str | None:
        value = self.extra.get(name)
        return str(value).rstrip("/") if value else None


def check_kind(kind: str) -> str:
    if kind not in PLATFORM_KINDS:
        raise ValueError(f"platform.kind must be one of {', '.join(PLATFORM_KINDS)}, got {kind!r}")
    return kind


def _nmp(access: Access) -> NemoEndpoints:
    return NemoEndpoints(
        base_url=access.url,
        nim_url=access.option("nim_url") or access.url,
        datastore_url=access.option("datastore_url") or access.url,
        api_key=access.api_key,
        namespace=str(access.extra.get("namespace") or access.namespace),
        timeout_s=access.timeout_s,
        max_retries=access.max_retries,
    )


def _helix(access: Access) -> HelixEndpoints:
    from flywheel.platforms.helix.endpoints import HelixEndpoints

    return HelixEndpoints(
        base_url=access.url,
        workspace=str(access.extra.get("namespace") or access.namespace),
        api_key=access.api_key,
        gpu_url=access.option("gpu_url"),
        provider_url=access.option("provider_url"),
        timeout_s=access.timeout_s,
        max_retries=access.max_retries,
    )


def open_platform(kind: str, access: Access) -> Platform:
    """The sync port of backend ``kind`` (a context manager: close it)."""
    if check_kind(kind) == "helix":
        from flywheel.platforms.helix.adapter import HelixPlatform

        return cast(Platform, HelixPlatform(_helix(access)))
    from flywheel.platforms.nmp.client import NemoClient

    return cast(Platform, NemoClient(_nmp(access)))


def open_async_platform(kind: str, access: Access) -> AsyncPlatform:
    """The async port of backend ``kind`` for triggers (an async context manager: close it)."""
    if check_kind(kind) == "helix":
        from flywheel.platforms.helix.adapter import AsyncHelixPlatform

        return cast(AsyncPlatform, AsyncHelixPlatform(_helix(access)))
    from flywheel.platforms.nmp.aclient import AsyncNemoClient

    return cast(AsyncPlatform, AsyncNemoClient(_nmp(access)))


def inference_endpoints(kind: str, access: Access) -> InferenceEndpoints:
    """Base URL (links), inference URL and key (latency) of the platform; on Helix inference goes through
    the workspace's gateway, as the application's would."""
    if check_kind(kind) == "helix":
        h = _helix(access)
        return NemoEndpoints(
            base_url=h.base_url,
            nim_url=h.gateway_url,
            datastore_url=h.base_url,
            api_key=h.api_key,
            namespace=h.workspace,
            timeout_s=h.timeout_s,
            max_retries=h.max_retries,
        )
    return _nmp(access)


def resource_url(kind: str, access: Access, what: str, ref: str) -> str:
    """URL of a ``deployment`` / ``customization`` / ``evaluation`` on the platform (task links, hints)."""
    if check_kind(kind) == "helix":
        return _helix(access).resource_url(what, ref)
    e = _nmp(access)
    if what == "deployment":
        return f"{e.base_url}/v1/deployment/model-deployments/{e.namespace}/{ref}"
    return f"{e.base_url}/v1/{what}/jobs/{ref}"
