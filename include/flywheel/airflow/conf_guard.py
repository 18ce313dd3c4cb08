"""Refuse unknown ``conf`` keys when a flywheel DAG is triggered through the REST API (and so the UI).

Airflow validates the Params a DAG declares but silently keeps any other ``conf`` key, so a misspelt
override (``"eval_sise": 10``) would start a run with the defaults. This API-server middleware answers such
a trigger with a 400 naming the unknown key(s) and the accepted ones. The accepted keys are the Params of
the DAG as serialized (so they follow the DAG, not a copy of its list); DAGs not tagged ``flywheel`` are
left alone.

Nothing is answered before authentication: the request's token is validated the way the Flywheel page and
Airflow's own API do it (the auth manager, via ``resolve_user_from_token``) and the user must be allowed to
trigger the DAG; otherwise the request passes through untouched and Airflow answers its own 401 / 403,
which names no parameter. The 400 quotes at most a short prefix of each unknown key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from flywheel.params import conf_problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TRIGGER_PATH = re.compile(r"/api/v2/dags/(?P<dag_id>[^/~]+)/dagRuns/?$")
TAG = "flywheel"
SHOWN_CHARS = 40  # of an unknown key quoted in the 400
MAX_NAMED = 10  # unknown keys named in the 400


def unknown_conf_problem(conf: Any, accepted: set[str]) -> str | None:
    """The 400 message for ``conf`` given the accepted keys, or None when every key is known."""
    if not isinstance(conf, dict):
        return None
    unknown = sorted(str(k) for k in conf if k not in accepted)
    if not unknown:
        return None
    named = ", ".join(_short(k) for k in unknown[:MAX_NAMED])
    if len(unknown) > MAX_NAMED:
        named += f" and {len(unknown) - MAX_NAMED} more"
    return f"unknown conf key(s) {named}; accepted keys: {', '.join(sorted(accepted))}"


def _short(key: str) -> str:
    return repr(key) if len(key) <= SHOWN_CHARS else repr(key[:SHOWN_CHARS]) + "…"


def flywheel_params(dag_id: str) -> dict[str, dict[str, Any]] | None:
    """The Param schemas (``{name: schema}``) of a flywheel DAG as serialized, or None for other (or unknown)
    DAGs."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None or TAG not in (dag.tags or ()):
        return None
    return {name: dict(dag.params.get_param(name).schema or {}) for name in dag.params}


def _problem_for(dag_id: str, body: bytes) -> str | None:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return None  # the API itself answers malformed JSON
    conf = payload.get("conf") if isinstance(payload, dict) else None
    if not conf:
        return None
    schemas = flywheel_params(dag_id)
    if schemas is None:
        return None
    # Airflow's own 400 for a refused value quotes it whole (twice); ours quotes a short prefix
    return unknown_conf_problem(conf, set(schemas)) or conf_problem(conf, schemas)


async def may_trigger(scope: Scope, dag_id: str) -> bool:
    """Whether the request's token is valid (as the Flywheel page and Airflow's API check it) and its user
    may trigger ``dag_id``. Any failure is a no: Airflow then answers the request itself."""
    import anyio.to_thread
    from starlette.requests import Request

    from flywheel.airflow.results_page import AirflowBackend

    try:
        user = await AirflowBackend().authenticate(Request(scope))
    except Exception:  # HTTPException 401/403 for a missing, expired or invalid token
        return False
    return await anyio.to_thread.run_sync(_may_trigger, user, dag_id)


def _may_trigger(user: Any, dag_id: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    try:
        return get_auth_manager().is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
        )
    except Exception:
        return False


class RefuseUnknownConf:
    """Pure ASGI middleware: buffers the body of a DAG-run trigger, checks it, then replays it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _TRIGGER_PATH.search(scope.get("path", "")) if scope["type"] == "http" else None
        # unauthenticated or unauthorized callers get the API's own 401 / 403, not our list of accepted keys
        if not match or scope.get("method") != "POST" or not await may_trigger(scope, match["dag_id"]):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)

        import anyio.to_thread

        problem = await anyio.to_thread.run_sync(_problem_for, match["dag_id"], body)
        if problem:
            reply = json.dumps({"detail": problem}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(reply)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": reply})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
