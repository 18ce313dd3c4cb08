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

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from flywheel.airflow.connections import NEMO_CONN, endpoints_from_connection, helix_endpoints_from_connection
from flywheel.config import ConfigError, load_config

if TYPE_CHECKING:
    from flywheel.nemo import NemoEndpoints
    from flywheel.platforms.port import AsyncPlatform, Platform


def configured_kind() -> str:
    """``platform.kind`` of the config the DAGs are built from (``$FLYWHEEL_CONFIG``): what a trigger,
    which carries no config, uses. An unreadable config means the default backend, ``nmp``."""
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
        if self._kind not in ("nmp", "helix"):
            raise ValueError(f"platform.kind must be 'nmp' or 'helix', got {self._kind!r}")
        return self._kind

    def _endpoints(self, conn: Any) -> NemoEndpoints:
        if self.platform_kind == "helix":
            from flywheel.nemo import NemoEndpoints

            h = self._helix(conn)
            # inference (latency) goes through the workspace's gateway, as the application's would
            return NemoEndpoints(
                base_url=h.base_url,
                nim_url=h.gateway_url,
                datastore_url=h.base_url,
                api_key=h.api_key,
                namespace=h.workspace,
                timeout_s=h.timeout_s,
                max_retries=h.max_retries,
            )
        return endpoints_from_connection(conn, self.namespace, self.request_timeout_s, self.max_retries)

    def _helix(self, conn: Any) -> Any:
        return helix_endpoints_from_connection(conn, self.namespace, self.request_timeout_s, self.max_retries)

    def resource_url(self, kind: str, ref: str) -> str:
        """URL of a ``deployment`` / ``customization`` / ``evaluation`` on the configured platform."""
        conn = self.get_connection(self.nemo_conn_id)
        if self.platform_kind == "helix":
            return str(self._helix(conn).resource_url(kind, ref))
        e = self._endpoints(conn)
        if kind == "deployment":
            return f"{e.base_url}/v1/deployment/model-deployments/{e.namespace}/{ref}"
        return f"{e.base_url}/v1/{kind}/jobs/{ref}"

    def endpoints(self) -> NemoEndpoints:
        """Base URL (links), inference URL and key (latency measurement) of the platform."""
        return self._endpoints(self.get_connection(self.nemo_conn_id))

    async def aendpoints(self) -> NemoEndpoints:
        return self._endpoints(await BaseHook.aget_connection(self.nemo_conn_id))

    def get_conn(self) -> Platform:
        """The sync platform port (a context manager: close it)."""
        conn = self.get_connection(self.nemo_conn_id)
        if self.platform_kind == "helix":
            from flywheel.platforms.helix.adapter import HelixPlatform

            return HelixPlatform(self._helix(conn))
        from flywheel.nemo import NemoClient

        return NemoClient(self._endpoints(conn))

    async def aget_conn(self) -> AsyncPlatform:
        """The async platform port for triggers (an async context manager: close it)."""
        conn = await BaseHook.aget_connection(self.nemo_conn_id)
        if self.platform_kind == "helix":
            from flywheel.platforms.helix.adapter import AsyncHelixPlatform

            return AsyncHelixPlatform(self._helix(conn))
        from flywheel.nemo import AsyncNemoClient

        return AsyncNemoClient(self._endpoints(conn))

    def test_connection(self) -> tuple[bool, str]:
        """Reach the deployments API with the connection's URL and key (the UI's *Test* button)."""
        try:
            with self.get_conn() as client:
                count, namespace = len(client.list_deployments()), client.ns
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"NeMo platform ({self.platform_kind}) reachable ({count} deployment(s) in {namespace})"
