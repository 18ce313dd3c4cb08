"""The Flywheel page as a FastAPI app (mounted by the Airflow plugin under ``/flywheel``).

``GET /`` renders the page, ``GET /api/results?workload_id=W[&run_id=R]`` returns the reports it draws
from (docs/contracts.md#commands), ``GET /api/serving?workload_id=W`` the workload's serving state
(docs/loop.md#the-page), ``GET /report?dag_id=D&run_id=R`` serves a run's report file. All need an
authenticated user: the :class:`Backend` decides who that is (Airflow's JWT, see
``flywheel.airflow.results_page``) and which DAGs they may read; this module knows no Airflow.

Every HTML answer, refusals and errors included, comes from an autoescaping template (``render``); every
answer carries the security headers of ``flywheel.ui.security``. A refused login names nothing: not the
workload, DAG or run asked for.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from flywheel.ui.render import ASSETS, asset, render, render_page
from flywheel.ui.security import SecurityHeaders, report_csp, security_headers
from flywheel.ui.serving import ServingState
from flywheel.ui.view import RunReport, workload_view

MEDIA = {".js": "text/javascript", ".css": "text/css"}
NO_STORE = {"Cache-Control": "no-store"}
# what a refused login says, whatever the backend's reason: nothing about what was asked for
LOGIN_REFUSED = {401: "Not logged in to Airflow (or the session expired)", 403: "The Airflow login is not valid"}
SHOWN_CHARS = 60  # of a value quoted back in a refusal


class Backend(Protocol):
    async def authenticate(self, request: Request) -> Any:
        """The user behind the request; raises HTTPException 401 (no/expired credential) or 403."""

    def dag_ids(self, user: Any) -> list[str]:
        """Flywheel DAGs whose results ``user`` may read."""

    def runs(self, dag_id: str) -> list[RunReport]:
        """The DAG's runs that have a `report`, oldest first."""

    def history(self, dag_id: str, runs: list[RunReport]) -> list[RunReport]:
        """Runs to draw the history from (a results store when there is one, else ``runs``)."""

    def airflow_base(self) -> str:
        """URL path prefix of Airflow's own UI (for links to runs, tasks and the approval form)."""

    def login_url(self, next_url: str) -> str | None: ...

    def run_report(self, dag_id: str, run_id: str) -> str | None:
        """The run's self-contained report file (HTML), None when it was not written."""

    def serving(self, workload_id: str) -> ServingState:
        """What serves the workload and its rollouts (``flywheel.ui.serving``)."""


class LoginRefused(HTTPException):
    def __init__(self, status_code: int) -> None:
        super().__init__(status_code=status_code, detail=LOGIN_REFUSED.get(status_code, LOGIN_REFUSED[401]))


def workload_of(dag_id: str) -> str:
    return dag_id.removeprefix("flywheel_")


def quoted(value: str) -> str:
    """``value`` as a refusal quotes it: repr'd, at most SHOWN_CHARS characters of it."""
    return repr(value) if len(value) <= SHOWN_CHARS else repr(value[:SHOWN_CHARS]) + "…"


def _is_api(request: Request) -> bool:
    path = request.url.path
    return "/api/" in path or "/static/" in path


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(title="Flywheel results", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)

    async def user(request: Request) -> Any:
        try:
            return await backend.authenticate(request)
        except HTTPException as exc:
            raise LoginRefused(exc.status_code) from None

    def allowed(user: Any, workload_id: str | None) -> list[str]:
        dags = sorted(backend.dag_ids(user))
        if workload_id is None:
            return dags
        dag_id = f"flywheel_{workload_id}"
        if dag_id not in dags:
            raise HTTPException(status_code=403, detail=f"no results of workload {quoted(workload_id)} for this user")
        return [dag_id]

    def refusal(request: Request, status: int, message: str, login: bool = False) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=status, headers=NO_STORE)
        # back to the page itself after logging in: the refused URL (and what it names) is not repeated
        login_url = backend.login_url(str(request.url_for("page"))) if login else None
        html = render("error.html", message=message, login_url=login_url)
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    @app.exception_handler(StarletteHTTPException)
    async def refuse(request: Request, exc: StarletteHTTPException) -> Response:
        # details are ours (or Starlette's status phrase for an unknown path): values in them are quoted()
        return refusal(request, exc.status_code, str(exc.detail), login=isinstance(exc, LoginRefused))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(e.get("loc", ("", "?"))[-1]) for e in exc.errors()})
        return refusal(request, 422, f"missing or invalid query parameter(s): {', '.join(fields)}")

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        # answered by Starlette's outermost error middleware, outside SecurityHeaders: add the headers here
        response = refusal(request, 500, "The Flywheel page failed; the API server's log has the details")
        response.headers.update(security_headers())
        return response

    @app.get("/", response_class=HTMLResponse)
    def page(
        request: Request, u: Any = Depends(user), workload_id: str | None = None, run_id: str | None = None
    ) -> HTMLResponse:
        base = backend.airflow_base()
        views, serving = [], []
        for dag_id in allowed(u, workload_id):
            serving.append(backend.serving(workload_of(dag_id)))
            runs = backend.runs(dag_id)
            view = workload_view(workload_of(dag_id), dag_id, runs, run_id if workload_id else None, base)
            view.history = workload_view(workload_of(dag_id), dag_id, backend.history(dag_id, runs)).history
            views.append(view)
        static = str(request.url_for("static", name="flywheel.js")).rsplit("/", 1)[0]
        html = render_page(views, static_prefix=static, page_href=str(request.url_for("page")), serving=serving)
        return HTMLResponse(html, headers=NO_STORE)

    @app.get("/report", response_class=HTMLResponse)
    def run_report(u: Any = Depends(user), dag_id: str = Query(...), run_id: str = Query(...)) -> HTMLResponse:
        if dag_id not in backend.dag_ids(u):
            raise HTTPException(status_code=403, detail=f"no results of {quoted(dag_id)} for this user")
        html = backend.run_report(dag_id, run_id)
        if html is None:
            raise HTTPException(status_code=404, detail=f"run {quoted(run_id)} of {dag_id} has no report file")
        # the file carries its style and scripts inline: its policy allows exactly those, by hash
        return HTMLResponse(html, headers={**NO_STORE, "Content-Security-Policy": report_csp()})

    @app.get("/api/results")
    def results(u: Any = Depends(user), workload_id: str = Query(...), run_id: str | None = None) -> dict[str, object]:
        (dag_id,) = allowed(u, workload_id)
        runs = all_runs = backend.runs(dag_id)
        if run_id is not None:
            runs = [r for r in all_runs if r.run_id == run_id]
            if not runs:
                raise HTTPException(status_code=404, detail=f"run {quoted(run_id)} of {dag_id} has no report")
        history = workload_view(workload_id, dag_id, backend.history(dag_id, all_runs)).history
        return {
            "workload_id": workload_id,
            "dag_id": dag_id,
            "reports": [r.to_json() for r in reversed(runs)],  # newest first
            "history": history,
        }

    @app.get("/api/serving")
    def serving(u: Any = Depends(user), workload_id: str = Query(...)) -> dict[str, object]:
        allowed(u, workload_id)
        return backend.serving(workload_id).model_dump(mode="json")

    @app.get("/static/{name}", name="static")
    def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail="not found")
        media = MEDIA[name[name.rindex(".") :]]
        return Response(asset(name), media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    return app
