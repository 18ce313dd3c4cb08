"""The flywheel's hook inside a LiteLLM proxy: weighted routing of ``flywheel/<workload_id>`` and logging.

This file is loaded by the proxy (``litellm_settings.callbacks: flywheel_hook.handler``; the adapter copies it
next to the proxy's config as ``flywheel_hook.py``), in the gateway's own Python environment: it imports only
the standard library and LiteLLM, never the flywheel package.

- Routing: a request for model ``flywheel/<workload_id>`` is sent to the workload's incumbent or, with the
  candidate's weight in percent, to its candidate, as the routing document says (``FLYWHEEL_ROUTING_FILE``,
  re-read when it changes). Any other model name passes through untouched (the rollout's own shadow and
  comparison requests name their model).
- Logging: every routed call that succeeds is appended to the log source (``FLYWHEEL_LOG_FILE``) in the
  flywheel's log schema (``timestamp``, ``workload_id``, ``client_id``, ``request``, ``response``, plus
  ``served_model`` and ``latency_ms``); every routed call, success or failure, leaves one line in
  ``<FLYWHEEL_SERVING_LOG_DIR>/<workload_id>.serving.jsonl`` (what the rollout's steps are judged by).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

PREFIX = "flywheel/"
_lock = threading.Lock()


class _Routes:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.stamp: tuple[int, int] | None = None
        self.routes: dict[str, object] = {}

    def get(self, workload_id: str) -> dict[str, object] | None:
        if self.path:
            try:
                st = os.stat(self.path)
                stamp = (st.st_mtime_ns, st.st_size)
                if stamp != self.stamp:
                    self.routes = json.loads(Path(self.path).read_text()).get("routes") or {}
                    self.stamp = stamp
            except (OSError, ValueError):
                pass  # keep the last good document
        route = self.routes.get(workload_id)
        return route if isinstance(route, dict) else None


def _append(path: str | None, line: dict[str, object]) -> None:
    if not path:
        return
    text = json.dumps(line, default=str) + "\n"
    with _lock:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def _flywheel(kwargs: dict[str, object]) -> dict[str, object] | None:
    params = kwargs.get("litellm_params")
    params = params if isinstance(params, dict) else {}
    for holder in (params.get("metadata"), kwargs.get("metadata"), params.get("litellm_metadata")):
        found = holder.get("flywheel") if isinstance(holder, dict) else None
        if isinstance(found, dict):
            return found
    return None


def _ms(start: Any, end: Any) -> float | None:
    try:
        return round((end - start).total_seconds() * 1000.0, 2)
    except (TypeError, AttributeError):
        return None


class FlywheelHook(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.routes = _Routes(os.environ.get("FLYWHEEL_ROUTING_FILE"))
        self.log_file = os.environ.get("FLYWHEEL_LOG_FILE")
        self.serving_dir = os.environ.get("FLYWHEEL_SERVING_LOG_DIR")
        self.client_id = os.environ.get("FLYWHEEL_CLIENT_ID", "gateway")

    async def async_pre_call_hook(
        self, user_api_key_dict: object, cache: object, data: dict[str, object], call_type: object
    ) -> dict[str, object]:
        model = data.get("model")
        if not isinstance(model, str) or not model.startswith(PREFIX):
            return data
        workload_id = model[len(PREFIX) :]
        route = self.routes.get(workload_id)
        if route is None:
            raise ValueError(f"no route for workload {workload_id!r} in the flywheel routing document")
        weight = route.get("candidate_weight")
        weight = weight if isinstance(weight, int) else 0
        candidate = route.get("candidate")
        served = candidate if candidate and random.random() * 100 < weight else route["incumbent"]
        keep = ("messages", "tools", "tool_choice", "temperature", "max_tokens")
        request: dict[str, object] = {k: data[k] for k in keep if k in data}
        request["model"] = model
        data["model"] = served
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            metadata = data["metadata"] = {}
        metadata["flywheel"] = {
            "workload_id": workload_id,
            "served_model": served,
            "role": "candidate" if served == candidate and served != route["incumbent"] else "incumbent",
            "step": route.get("step"),
            "rollout": route.get("rollout"),
            "request": request,
        }
        return data

    def _serving_line(self, fw: dict[str, object], ok: bool, latency_ms: float | None, error: str | None) -> None:
        if not self.serving_dir:
            return
        line = {
            "ts": time.time(),
            "workload_id": fw["workload_id"],
            "served_model": fw["served_model"],
            "role": fw["role"],
            "step": fw.get("step"),
            "rollout": fw.get("rollout"),
            "ok": ok,
            "latency_ms": latency_ms,
            "error": error,
        }
        _append(os.path.join(self.serving_dir, f"{fw['workload_id']}.serving.jsonl"), line)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        fw = _flywheel(kwargs)
        if fw is None:
            return
        latency = _ms(start_time, end_time)
        response = response_obj.model_dump() if hasattr(response_obj, "model_dump") else dict(response_obj)
        record = {
            "timestamp": time.time(),
            "workload_id": fw["workload_id"],
            "client_id": self.client_id,
            "request": fw["request"],
            "response": response,
            "served_model": fw["served_model"],
            "latency_ms": latency,
        }
        _append(self.log_file, record)
        self._serving_line(fw, True, latency, None)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        fw = _flywheel(kwargs)
        if fw is None:
            return
        error = kwargs.get("exception")
        self._serving_line(fw, False, _ms(start_time, end_time), type(error).__name__ if error else "error")


handler = FlywheelHook()
