"""Endpoints and secrets from Airflow Connections (never from config files, XCom or logs).

- ``flywheel_nemo``  (http): host = NeMo base URL, password = API key (optional),
  extra ``{"nim_url": ..., "datastore_url": ..., "namespace": ...}`` (both URLs default to the host);
  on Helix (``platform.kind: helix``): host = Helix base URL, extra ``{"namespace": <workspace>,
  "gpu_url": ..., "provider_url": ...}`` (see :class:`flywheel.platforms.helix.endpoints.HelixEndpoints`).
- ``flywheel_judge`` (http): host = full chat-completions URL of a remote judge, password = API key.
- ``flywheel_embedding`` (http): host = full embeddings URL of a remote embedding model, password = API key.
- ``flywheel_es``    (elasticsearch): the log store (see :func:`es_client_args`).
- ``flywheel_mongo`` (mongo): optional results store.
- ``nims[].served_conn_id`` (any type, e.g. http): password = API key of that candidate's ``served_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig, NimConfig
    from flywheel.nemo import NemoEndpoints
    from flywheel.platforms.helix.endpoints import HelixEndpoints

NEMO_CONN = "flywheel_nemo"
JUDGE_CONN = "flywheel_judge"
EMBEDDING_CONN = "flywheel_embedding"
ES_CONN = "flywheel_es"
MONGO_CONN = "flywheel_mongo"


def _url_of(conn: Any) -> str:
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ValueError(f"connection '{conn.conn_id}' has no host")
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        host = f"{scheme}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host


def endpoints_from_connection(
    conn: Any, namespace: str, timeout_s: float = 30.0, max_retries: int = 5
) -> NemoEndpoints:
    from flywheel.nemo import NemoEndpoints

    extra = conn.extra_dejson or {}
    base = _url_of(conn)
    return NemoEndpoints(
        base_url=base,
        nim_url=str(extra.get("nim_url") or base).rstrip("/"),
        datastore_url=str(extra.get("datastore_url") or base).rstrip("/"),
        api_key=conn.password or None,
        namespace=str(extra.get("namespace") or namespace),
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


def helix_endpoints_from_connection(
    conn: Any, workspace: str, timeout_s: float = 30.0, max_retries: int = 5
) -> HelixEndpoints:
    from flywheel.platforms.helix.endpoints import HelixEndpoints

    extra = conn.extra_dejson or {}
    return HelixEndpoints(
        base_url=_url_of(conn),
        workspace=str(extra.get("namespace") or workspace),
        api_key=conn.password or None,
        gpu_url=extra.get("gpu_url") or None,
        provider_url=extra.get("provider_url") or None,
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


@dataclass(frozen=True)
class JudgeEndpoint:
    mode: str
    model_name: str
    url: str | None
    api_key: str | None

    def public(self) -> dict[str, Any]:
        """What may go to XCom and logs: no key."""
        return {"mode": self.mode, "model_name": self.model_name, "url": self.url, "has_key": bool(self.api_key)}


def judge_endpoint(cfg: FlywheelConfig) -> JudgeEndpoint:
    """The judge as configured; a remote judge's URL and key come from ``flywheel_judge`` when it exists."""
    judge = cfg.judge
    if judge.mode != "remote":
        return JudgeEndpoint(judge.mode, judge.model_name, judge.url, None)
    conn = optional_connection(JUDGE_CONN)
    url, key = _hosted_endpoint(conn, judge.url)
    model = (conn.extra_dejson or {}).get("model_name") if conn is not None else None
    return JudgeEndpoint("remote", str(model or judge.model_name), url, key)


def embedding_endpoint(cfg: FlywheelConfig) -> tuple[str | None, str | None]:
    """(URL, key) of a remote embedding model: connection ``flywheel_embedding`` wins over ``embedding.url``."""
    return _hosted_endpoint(optional_connection(EMBEDDING_CONN), cfg.embedding.url)


def _hosted_endpoint(conn: Any | None, config_url: str | None) -> tuple[str | None, str | None]:
    """(URL, key) of a hosted model: the connection's host (when set) wins over the config's URL."""
    if conn is None:
        return config_url, None
    return (_url_of(conn) if conn.host else config_url), conn.password or None


def served_api_key(nim: NimConfig) -> str | None:
    """The API key of a candidate already served elsewhere: the password of its ``served_conn_id``."""
    if not nim.served_conn_id:
        return None
    conn = optional_connection(nim.served_conn_id)
    if conn is None:
        raise ValueError(f"{nim.model_name}: connection '{nim.served_conn_id}' (served_conn_id) is not defined")
    if not conn.password:
        raise ValueError(
            f"{nim.model_name}: connection '{nim.served_conn_id}' (served_conn_id) has no password: "
            "put the served endpoint's API key there"
        )
    return str(conn.password)


def optional_connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException lives in different modules across 3.x releases
        if "isn't defined" in str(exc) or "not found" in str(exc).lower() or type(exc).__name__.endswith("NotFound"):
            return None
        raise


def es_client_args(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(node, client options) of an ``elasticsearch`` connection; the secrets travel only as options.

    host (a name, or a URL without credentials), port (default 9200), scheme from extra ``scheme`` or the
    schema (default http); login/password become Basic auth, extra ``api_key`` (``"<base64>"`` or
    ``["<id>", "<key>"]``) API-key auth; extra ``verify_certs``, ``ca_certs``, ``client_cert``,
    ``client_key``, ``ssl_assert_fingerprint``, ``request_timeout`` are passed on."""
    from flywheel.records.sources import client_options, es_node

    extra = conn.extra_dejson or {}
    host = (conn.host or "127.0.0.1").strip()
    if "://" in host:
        node = es_node(host)  # refuses a host that carries credentials, without repeating them
        if conn.port and ":" not in host.split("://", 1)[1].split("/", 1)[0]:
            node["port"] = int(conn.port)
    else:
        scheme = extra.get("scheme") or (conn.schema if conn.schema in ("http", "https") else "http")
        if scheme not in ("http", "https"):
            raise ValueError(f"connection '{conn.conn_id}': extra scheme must be http or https, not {scheme!r}")
        node = {"scheme": scheme, "host": host, "port": int(conn.port or 9200)}
    options = client_options(extra)
    if conn.login:
        options["basic_auth"] = (conn.login, conn.password or "")
    api_key = extra.get("api_key")
    if api_key:
        options["api_key"] = tuple(api_key) if isinstance(api_key, list) else str(api_key)
    return node, options


def es_client_from_connection(conn_id: str = ES_CONN) -> Any | None:
    """The log store's client, built from the connection by the elasticsearch provider's
    ``ElasticsearchPythonHook``; None when the connection is not defined. No URL ever holds a secret."""
    from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchPythonHook

    from flywheel.records.sources import plain_json_media_types

    conn = optional_connection(conn_id)
    if conn is None:
        return None
    node, options = es_client_args(conn)
    return plain_json_media_types(ElasticsearchPythonHook(hosts=[node], es_conn_args=options).get_conn)


def connection_secrets(*conn_ids: str) -> list[str]:
    """The secret values of these connections (password, extra keys named like secrets), for
    :func:`flywheel.scrub.scrub`; undefined connections are skipped."""
    out: list[str] = []
    for conn_id in conn_ids:
        conn = optional_connection(conn_id)
        if conn is None:
            continue
        out.append(conn.password or "")
        for key, value in (conn.extra_dejson or {}).items():
            if any(word in key.lower() for word in ("key", "secret", "token", "password")):
                out.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return [s for s in out if s]
