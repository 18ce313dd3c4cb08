"""``NemoHook``: the only way from Airflow to a NeMo platform, sync (tasks) or async (triggers).

Shaped like the providers' hooks (a connection id with a default name, ``get_conn`` / an async twin,
``test_connection`` for the UI's *Test* button). It hands out the platform port
(:mod:`flywheel.platforms.port`) of the configured backend (``platform.kind``): ``nmp`` — NeMo
Microservices 25.x (connection ``flywheel_nemo``, type ``http``: host = base URL, password = key, extra
``nim_url``, ``datastore_url``, ``namespace``); ``helix`` — NeMo Helix v2 (host = Helix URL, extra
``namespace`` = workspace, ``gpu_url``, ``provider_url``). Request timeout and retries come from the
platform config.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from flywheel.airflow.connections import NEMO_CONN, access_from_connection
from flywheel.config import ConfigError, load_config
from flywheel.platforms import registry
from flywheel.platforms.port import AsyncPlatform, Platform


def configured_kind() -> str:
    """``platform.kind`` of the config the DAGs are built from (``$FLYWHEEL_CONFIG``), for a hook built
    without one (the UI's *Test* button). Triggers never rely on it: they carry the kind they were
    deferred with. An unreadable config means the default backend, ``nmp``."""
    try:
        return load_config().platform.kind
    except ConfigError:
        return "nmp"


class NemoHook(BaseHook):
    conn_name_attr = "nemo_conn_id"
    default_conn_name = NEMO_CONN
    conn_type = "http"
    hook_name = "NeMo platform (flywheel)"

    def __init__(
        self,
        nemo_conn_id: str = NEMO_CONN,
        *,
        namespace: str = "dfwbp",
        request_timeout_s: float = 30.0,
        max_retries: int = 5,
        platform_kind: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nemo_conn_id = nemo_conn_id
        self.namespace, self.request_timeout_s, self.max_retries = namespace, request_timeout_s, max_retries
        self._kind = platform_kind

    @classmethod
    def from_config(cls, cfg: Any, nemo_conn_id: str = NEMO_CONN) -> NemoHook:
        p = cfg.platform
        return cls(
            nemo_conn_id,
            namespace=p.namespace,
            request_timeout_s=p.request_timeout_s,
            max_retries=p.max_retries,
            platform_kind=p.kind,
        )

    @property
    def platform_kind(self) -> str:
        if self._kind is None:
            self._kind = configured_kind()
        return registry.check_kind(self._kind)

    def _access(self, conn: Any) -> registry.Access:
        return access_from_connection(conn, self.namespace, self.request_timeout_s, self.max_retries)

    def resource_url(self, kind: str, ref: str) -> str:
        """URL of a ``deployment`` / ``customization`` / ``evaluation`` on the configured platform."""
        access = self._access(self.get_connection(self.nemo_conn_id))
        return registry.resource_url(self.platform_kind, access, kind, ref)

    def endpoints(self) -> registry.InferenceEndpoints:
        """Base URL (links), inference URL and key (latency measurement) of the platform."""
        return registry.inference_endpoints(self.platform_kind, self._access(self.get_connection(self.nemo_conn_id)))

    async def aendpoints(self) -> registry.InferenceEndpoints:
        conn = await BaseHook.aget_connection(self.nemo_conn_id)
        return registry.inference_endpoints(self.platform_kind, self._access(conn))

    def get_conn(self) -> Platform:
        """The sync platform port (a context manager: close it)."""
        return registry.open_platform(self.platform_kind, self._access(self.get_connection(self.nemo_conn_id)))

    async def aget_conn(self) -> AsyncPlatform:
        """The async platform port for triggers (an async context manager: close it)."""
        conn = await BaseHook.aget_connection(self.nemo_conn_id)
        return registry.open_async_platform(self.platform_kind, self._access(conn))

    def test_connection(self) -> tuple[bool, str]:
        """Reach the deployments API with the connection's URL and key (the UI's *Test* button)."""
        try:
            with self.get_conn() as client:
                count, namespace = len(client.list_deployments()), client.ns
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"NeMo platform ({self.platform_kind}) reachable ({count} deployment(s) in {namespace})"
