"""A tiny scripted HTTP server for client fault tests (run under uvicorn on a free loopback port).

``POST /_script`` with ``{"method": "GET", "path": "/v1/...", "responses": [spec, ...]}`` queues answers for
that route; the last one repeats. A spec is ``{"status": 200, "json": {...}}`` or ``{"status": 200,
"text": "..."}``, plus optional ``"headers"``, ``"delay_s"`` (sleep before answering) and ``"store": true``
(remember the request body as a created job, listed by ``GET`` on the same path). ``GET /_log`` returns
every request seen (method, path, monotonic time, whether an Authorization header came, JSON body);
``POST /_reset`` forgets scripts, jobs and the log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

app = FastAPI()
scripts: dict[tuple[str, str], list[dict[str, Any]]] = {}
stored: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
seen: list[dict[str, Any]] = []


@app.post("/_script")
async def script(body: dict[str, Any]) -> dict[str, str]:
    scripts[(body["method"].upper(), body["path"])] = list(body["responses"])
    return {"ok": "scripted"}


@app.post("/_reset")
async def reset() -> dict[str, str]:
    scripts.clear()
    stored.clear()
    seen.clear()
    return {"ok": "reset"}


@app.get("/_log")
async def log() -> list[dict[str, Any]]:
    return seen


@app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def catch_all(path: str, request: Request) -> Response:
    route = "/" + path
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    seen.append(
        {
            "method": request.method,
            "path": route,
            "t": time.monotonic(),
            "query": str(request.url.query),
            "auth": request.headers.get("authorization") is not None,
            "body": body,
        }
    )
    queue = scripts.get((request.method, route))
    if not queue:
        if request.method == "GET" and route in stored:
            items = stored[route]
            return JSONResponse(
                {"data": items, "pagination": {"page": 1, "total_pages": 1, "total_results": len(items)}}
            )
        return JSONResponse({"detail": f"nothing scripted for {request.method} {route}"}, status_code=404)
    spec = queue.pop(0) if len(queue) > 1 else queue[0]
    if spec.get("delay_s"):
        await asyncio.sleep(float(spec["delay_s"]))
    if spec.get("store") and isinstance(body, dict):
        job = {**body, "id": f"job-{len(stored[route]) + 1}", "output_model": f"{body.get('output_model')}@x"}
        stored[route].append(job)
    headers = spec.get("headers") or {}
    status = int(spec.get("status", 200))
    if "text" in spec:
        return Response(spec["text"], status_code=status, headers=headers, media_type="text/html")
    return JSONResponse(spec.get("json", {}), status_code=status, headers=headers)
