"""Task ``measure_latency`` (inside ``nim_experiment``, after the evaluations, before ``teardown_nim``).

While the candidate is still deployed (inside the GPU lease) it sends K eval prompts at concurrency C to
the base model, with the ICL prompts, and to the customized adapter, and returns p50/p95 latency, output
tokens per second, requests and errors per experiment.

Why a short task and not a deferrable operator with a trigger: the measurement *is* the work, not a wait
on the platform. It takes seconds to a couple of minutes and is bounded (``latency.max_seconds`` per
experiment, at most three experiments), so it holds a worker slot for a known, short time. On the
triggerer it would run C concurrent HTTP clients on the event loop shared by every other trigger: that
would slow those triggers and, worse, add their scheduling jitter to the very latencies being measured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TypedDict

from flywheel.airflow import artifacts
from flywheel.airflow.connections import served_api_key
from flywheel.airflow.hooks import NemoHook
from flywheel.config import load_config
from flywheel.platforms.core.latency import measure_sync, prompts_from_jsonl

log = logging.getLogger(__name__)


class Latencies(TypedDict, total=False):
    """``measure_latency``'s output: per experiment, the report's ``latency`` object and the model timed."""

    nim: str
    latency: dict[str, dict[str, object]]
    models: dict[str, str]
    note: str
    duration_s: float


def measure_latency(
    config_path: str | None,
    plan: Mapping[str, object],
    built: Mapping[str, object],
    deployed: Mapping[str, object] | None,
    customized: Mapping[str, object] | None,
) -> Latencies:
    """``deployed`` / ``customized``: the outputs of this NIM's deploy and customize tasks (None when they
    produced none), handed over by the DAG factory."""

    cfg = load_config(config_path)
    nim = str(plan["model_name"])
    out: Latencies = {"nim": nim, "latency": {}, "models": {}}
    if not deployed:
        log.info("%s was not deployed by this run: nothing to measure", nim)
        out["note"] = "not deployed"
        return out
    custom = customized or {}
    local = artifacts.fetch(str(built["uri"]))
    files = {str(k): str(v) for k, v in got.items()} if isinstance(got := built["files"], Mapping) else {}
    k = cfg.latency.prompts
    targets: dict[str, tuple[str, str]] = {"base": (nim, files["eval"])}
    if plan.get("icl") and files.get("icl"):
        targets["icl"] = (nim, files["icl"])
    if custom.get("output_model"):
        targets["customized"] = (str(custom["output_model"]), files["eval"])
    with NemoHook.from_config(cfg).get_conn() as c:
        served = cfg.nim(nim)
        url, api_key = c.inference_endpoint(served.served_url, served_api_key(served))
        targets = {exp: (c.inference_name(model), f) for exp, (model, f) in targets.items()}
    started = time.monotonic()
    for experiment, (model, file_name) in targets.items():
        prompts = prompts_from_jsonl(local / file_name, k)
        result = measure_sync(
            url,
            model,
            prompts,
            concurrency=cfg.latency.concurrency,
            max_seconds=cfg.latency.max_seconds,
            max_tokens=cfg.latency.max_tokens,
            api_key=api_key,
            timeout_s=cfg.platform.request_timeout_s,
        )
        out.setdefault("latency", {})[experiment] = {**result.as_entry(), "elapsed_s": result.elapsed_s}
        out.setdefault("models", {})[experiment] = model
        log.info(
            "LATENCY %s %s (%s): p50 %s ms, p95 %s ms, %.1f output tokens/s, %d requests, %d errors, %.1fs",
            nim,
            experiment,
            model,
            result.p50_ms,
            result.p95_ms,
            result.output_tokens_per_s,
            result.requests,
            result.errors,
            result.elapsed_s,
        )
    out["duration_s"] = round(time.monotonic() - started, 1)
    return out
