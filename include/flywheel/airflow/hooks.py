"""``NemoHook``: the only way from Airflow to a NeMo platform client, sync (tasks) or async (triggers).

Shaped like the providers' hooks (a connection id with a default name, ``get_conn`` / an async twin,
``test_connection`` for the UI's *Test* button). The endpoints and the API key come from the connection
(default ``flywheel_nemo``, type ``http``: host = base URL, password = key, extra ``nim_url``,
``datastore_url``, ``namespace``); request timeout and retries from the platform config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from flywheel.airflow.connections import NEMO_CONN, endpoints_from_connection

if TYPE_CHECKING:
    from flywheel.nemo import AsyncNemoClient, NemoClient, NemoEndpoints


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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nemo_conn_id = nemo_conn_id
        self.namespace, self.request_timeout_s, self.max_retries = namespace, request_timeout_s, max_retries

    @classmethod
    def from_config(cls, cfg: Any, nemo_conn_id: str = NEMO_CONN) -> NemoHook:
        p = cfg.platform
        return cls(
            nemo_conn_id, namespace=p.namespace, request_timeout_s=p.request_timeout_s, max_retries=p.max_retries
        )

    def endpoints(self) -> NemoEndpoints:
        conn = self.get_connection(self.nemo_conn_id)
        return endpoints_from_connection(conn, self.namespace, self.request_timeout_s, self.max_retries)

    async def aendpoints(self) -> NemoEndpoints:
        conn = await BaseHook.aget_connection(self.nemo_conn_id)
        return endpoints_from_connection(conn, self.namespace, self.request_timeout_s, self.max_retries)

    def get_conn(self) -> NemoClient:
        """A sync client (a context manager: close it)."""
        from flywheel.nemo import NemoClient

        return NemoClient(self.endpoints())

    async def aget_conn(self) -> AsyncNemoClient:
        """An async client for triggers (an async context manager: close it)."""
        from flywheel.nemo import AsyncNemoClient

        return AsyncNemoClient(await self.aendpoints())

    def test_connection(self) -> tuple[bool, str]:
        """Reach the Deployments API with the connection's URL and key (the UI's *Test* button)."""
        try:
            with self.get_conn() as client:
                count, namespace = len(client.list_deployments()), client.ns
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"NeMo platform reachable ({count} deployment(s) in namespace {namespace})"
