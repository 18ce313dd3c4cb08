"""Evaluator: jobs with inline configs (create, get, list, status, results, cancel, delete)."""

from __future__ import annotations

import hmac
import io
import json
import re
import time
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from flywheel.emulator.faults import JobFailureFault
from flywheel.emulator.metrics import METRIC_TYPES, PER_ITEM, TASK_TYPES
from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.state import TERMINAL, EvaluationJob
from flywheel.emulator.util import http_error, new_id, now_iso, page

router = APIRouter(route_class=EmulatorRoute)
J = "/v1/evaluation/jobs"


class EvalJobIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    config: dict[str, Any]
    target: dict[str, Any]
    namespace: str | None = None
    description: str | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


def _fail(msg: str, status: int = 422) -> Exception:
    return http_error(status, msg)


def _model_id(ref: Any) -> str | None:
    if isinstance(ref, str):
        return ref
    if isinstance(ref, dict):
        api = ref.get("api_endpoint")
        if isinstance(api, dict) and isinstance(api.get("model_id"), str) and isinstance(api.get("url"), str):
            return str(api["model_id"])
    return None


def validate(p: Any, body: EvalJobIn) -> str:
    """Check the inline config and target like the platform does; returns the target model id."""
    target = body.target
    if target.get("type") != "model":
        raise _fail(f"target.type must be 'model', got {target.get('type')!r}")
    model = _model_id(target.get("model"))
    if model is None:
        raise _fail("target.model must be a model id or {api_endpoint: {url, model_id}}")
    served = p.served_models()
    if model not in served:
        raise _fail(f"target model '{model}' not found: it is not deployed or not ready on the NIM proxy", 404)
    cfg = body.config
    if not isinstance(cfg.get("type"), str):
        raise _fail("config.type is required")
    tasks = cfg.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise _fail("config.tasks must be a non-empty mapping of task name to task")
    for tname, task in tasks.items():
        where = f"config.tasks.{tname}"
        if not isinstance(task, dict) or task.get("type") not in TASK_TYPES:
            raise _fail(f"{where}.type must be one of {sorted(TASK_TYPES)}")
        ds = task.get("dataset")
        files_url = ds if isinstance(ds, str) else (ds or {}).get("files_url") if isinstance(ds, dict) else None
        if not isinstance(files_url, str):
            raise _fail(f"{where}.dataset.files_url is required")
        try:
            p.store.read_hf_url(files_url)
        except LookupError as exc:
            raise _fail(f"{where}.dataset: {exc}", 404) from exc
        metrics = task.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise _fail(f"{where}.metrics must be a non-empty mapping")
        for mname, metric in metrics.items():
            _validate_metric(f"{where}.metrics.{mname}", metric, served)
    return model


def _validate_metric(where: str, metric: Any, served: dict[str, Any]) -> None:
    if not isinstance(metric, dict) or metric.get("type") not in METRIC_TYPES:
        raise _fail(f"{where}.type must be one of {sorted(METRIC_TYPES)}")
    params = metric.get("params") or {}
    if metric["type"] != "llm-judge":
        return
    judge = _model_id(params.get("model"))
    if judge is None:
        raise _fail(f"{where}.params.model must be a judge model id or {{api_endpoint: {{url, model_id}}}}")
    if isinstance(params.get("model"), str) and judge not in served:
        raise _fail(f"{where}.params.model '{judge}' is not deployed or not ready", 404)
    scores = params.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise _fail(f"{where}.params.scores must be a non-empty mapping")
    for sname, spec in scores.items():
        pattern = ((spec or {}).get("parser") or {}).get("pattern") if isinstance(spec, dict) else None
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise _fail(f"{where}.params.scores.{sname}.parser.pattern: {exc}") from exc


def _endpoints(body: EvalJobIn) -> list[dict[str, Any]]:
    """The ``api_endpoint`` blocks the job would call: its target's and its judges'."""
    refs = [body.target.get("model")]
    for task in (body.config.get("tasks") or {}).values():
        for metric in ((task or {}).get("metrics") or {}).values():
            refs.append(((metric or {}).get("params") or {}).get("model"))
    return [r["api_endpoint"] for r in refs if isinstance(r, dict) and isinstance(r.get("api_endpoint"), dict)]


def refused_endpoint(p: Any, body: EvalJobIn) -> JobFailureFault | None:
    """With ``judge_api_key`` set, an ``api_endpoint`` of a judge model without that key gets a 401 once the
    job calls it: the job fails, as the platform's does."""
    key = p.settings.judge_api_key
    if not key:
        return None
    for api in _endpoints(body):
        given = str(api.get("api_key") or "")
        if api.get("model_id") in p.settings.judge_models and not hmac.compare_digest(given.encode(), key.encode()):
            why = "invalid" if given else "missing"
            message = f"{api.get('url')} answered 401 Unauthorized for {api.get('model_id')}: {why} API key"
            return JobFailureFault(kind="job_failure", job="evaluation", at_percent=0.0, message=message)
    return None


def job_json(e: EvaluationJob) -> dict[str, Any]:
    body = e.body
    task_state = {"created": "pending", "running": "running", "completed": "completed"}.get(e.status, "failed")
    details: dict[str, Any] = {
        "message": e.message,
        "progress": e.progress,
        "samples_processed": e.samples if e.status == "completed" else int(e.samples * (e.progress or 0) / 100),
        "task_status": {t: task_state for t in body["config"].get("tasks") or {}},
    }
    return {
        "id": e.id,
        "namespace": body.get("namespace") or "default",
        "description": body.get("description"),
        "config": body["config"],
        "target": body["target"],
        "custom_fields": body.get("custom_fields") or {},
        "status": e.status,
        "status_details": details,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "result": f"evaluation_result-{e.id.split('-', 1)[1]}" if e.status == "completed" else None,
        "output_files_url": f"hf://datasets/evaluations/{e.id}" if e.status == "completed" else None,
        "project": body.get("project"),
    }


@router.post(J, name="evaluation.jobs.create")
async def create_job(body: EvalJobIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    model = validate(p, body)
    served = p.served_models()[model]
    models = {model, served.base}
    failure, slow = p.faults.bind_job("evaluation", models)
    failure = refused_endpoint(p, body) or failure
    e = EvaluationJob(
        new_id("eval"), body.model_dump(exclude_none=True), model, time.monotonic(), failure, slow, models
    )
    p.eval_jobs[e.id] = e
    p.created["evaluation"] += 1
    return job_json(e)


@router.get(J, name="evaluation.jobs.list")
async def list_jobs(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 100
) -> dict[str, Any]:
    return page([job_json(e) for e in _platform(request).eval_jobs.values()], page_no, page_size)


def _job(request: Request, job_id: str) -> EvaluationJob:
    e = _platform(request).eval_jobs.get(job_id)
    if e is None:
        raise http_error(404, f"Evaluation job '{job_id}' not found")
    return e


@router.get(J + "/{job_id}", name="evaluation.jobs.get")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    return job_json(_job(request, job_id))


@router.get(J + "/{job_id}/status", name="evaluation.status")
async def job_status(job_id: str, request: Request) -> dict[str, Any]:
    e = _job(request, job_id)
    return {"id": e.id, "status": e.status, **job_json(e)["status_details"]}


@router.get(J + "/{job_id}/results", name="evaluation.results")
async def job_results(job_id: str, request: Request) -> dict[str, Any]:
    e = _job(request, job_id)
    if e.status != "completed" or e.results is None:
        raise http_error(404, f"Results of evaluation job '{job_id}' are not available (status {e.status})")
    return {
        "id": f"evaluation_result-{e.id.split('-', 1)[1]}",
        "job": e.id,
        "namespace": e.body.get("namespace") or "default",
        "created_at": e.updated_at,
        "updated_at": e.updated_at,
        "files_url": f"hf://datasets/evaluations/{e.id}",
        **{k: v for k, v in e.results.items() if k != PER_ITEM},
    }


@router.get(J + "/{job_id}/download-results", name="evaluation.download_results")
async def download_results(job_id: str, request: Request) -> Response:
    """The job's result directory as a ZIP, like the platform's: ``results.json`` holds, per task, one
    record per eval item (``item``, ``sample``, ``metrics.<metric>.scores.<score>.value``)."""
    e = _job(request, job_id)
    if e.status != "completed" or e.results is None:
        raise http_error(404, f"Results of evaluation job '{job_id}' are not available (status {e.status})")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{e.id}/results.json", json.dumps(e.results.get(PER_ITEM) or {}))
        zf.writestr(f"{e.id}/config.json", json.dumps(e.body.get("config") or {}))
    return Response(buf.getvalue(), media_type="application/zip")


@router.post(J + "/{job_id}/cancel", name="evaluation.cancel")
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    e = _job(request, job_id)
    if e.status in TERMINAL:
        raise http_error(409, f"Evaluation job '{job_id}' is already {e.status}")
    e.status, e.updated_at, e.message = "cancelled", now_iso(), "Job was cancelled by the user."
    return job_json(e)


@router.delete(J + "/{job_id}", name="evaluation.jobs.delete", status_code=204)
async def delete_job(job_id: str, request: Request) -> Response:
    _job(request, job_id)
    del _platform(request).eval_jobs[job_id]
    return Response(status_code=204)
