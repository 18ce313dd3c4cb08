"""The Flywheel page as a FastAPI app (mounted by the Airflow plugin under ``/flywheel``).

``GET /`` renders the page, ``GET /api/results?workload_id=W[&run_id=R]`` returns the reports it draws
from (docs/contracts.md#commands). Both need an authenticated user: the :class:`Backend` decides who that
is (Airflow's JWT, see ``flywheel.airflow.results_page``) and which DAGs they may read; this module knows no Airflow.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from flywheel.ui.render import ASSETS, asset, render_page
from flywheel.ui.view import RunReport, workload_view

MEDIA = {".js": "text/javascript", ".css": "text/css"}


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


def workload_of(dag_id: str) -> str:
    return dag_id.removeprefix("flywheel_")


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(title="Flywheel results", docs_url=None, redoc_url=None, openapi_url=None)

    async def user(request: Request) -> Any:
        return await backend.authenticate(request)

    def allowed(user: Any, workload_id: str | None) -> list[str]:
        dags = sorted(backend.dag_ids(user))
        if workload_id is None:
            return dags
        dag_id = f"flywheel_{workload_id}"
        if dag_id not in dags:
            raise HTTPException(status_code=403, detail=f"no results of workload {workload_id!r} for this user")
        return [dag_id]

    @app.exception_handler(HTTPException)
    async def refuse(request: Request, exc: HTTPException) -> Response:
        if request.url.path.rstrip("/").endswith("/api/results") or exc.status_code not in (401, 403):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        login = backend.login_url(str(request.url))
        link = f' <a href="{login}" target="_top">Log in to Airflow</a>.' if login else ""
        body = f"<!doctype html><title>Flywheel</title><p>{exc.detail}.{link}</p>"
        return HTMLResponse(body, status_code=exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def page(
        request: Request, u: Any = Depends(user), workload_id: str | None = None, run_id: str | None = None
    ) -> HTMLResponse:
        base = backend.airflow_base()
        views = []
        for dag_id in allowed(u, workload_id):
            runs = backend.runs(dag_id)
            view = workload_view(workload_of(dag_id), dag_id, runs, run_id if workload_id else None, base)
            view.history = workload_view(workload_of(dag_id), dag_id, backend.history(dag_id, runs)).history
            views.append(view)
        static = str(request.url_for("static", name="flywheel.js")).rsplit("/", 1)[0]
        html = render_page(views, static_prefix=static, page_href=str(request.url_for("page")))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/report", response_class=HTMLResponse)
    def run_report(u: Any = Depends(user), dag_id: str = Query(...), run_id: str = Query(...)) -> HTMLResponse:
        if dag_id not in backend.dag_ids(u):
            raise HTTPException(status_code=403, detail=f"no results of {dag_id!r} for this user")
        html = backend.run_report(dag_id, run_id)
        if html is None:
            raise HTTPException(status_code=404, detail=f"run {run_id!r} of {dag_id} has no report file")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/api/results")
    def results(u: Any = Depends(user), workload_id: str = Query(...), run_id: str | None = None) -> dict[str, Any]:
        (dag_id,) = allowed(u, workload_id)
        runs = all_runs = backend.runs(dag_id)
        if run_id is not None:
            runs = [r for r in all_runs if r.run_id == run_id]
            if not runs:
                raise HTTPException(status_code=404, detail=f"run {run_id!r} of {dag_id} has no report")
        history = workload_view(workload_id, dag_id, backend.history(dag_id, all_runs)).history
        return {
            "workload_id": workload_id,
            "dag_id": dag_id,
            "reports": [asdict(r) for r in reversed(runs)],  # newest first
            "history": history,
        }

    @app.get("/static/{name}", name="static")
    def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail="not found")
        media = MEDIA[name[name.rindex(".") :]]
        return Response(asset(name), media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    return app
