"""The emulated Evaluator: runs each eval item through the NIM logic and computes the real metrics.

Supported task type ``chat-completion`` with metric types ``tool-calling`` (scores
``function_name_accuracy``, ``function_name_and_args_accuracy``), ``llm-judge`` (one score per entry of
``params.scores``; a deterministic judge stand-in writes the judge's text reply, which is then parsed
with the submitted parser, so a ``(\\d)`` regex reads a 10 as 1 exactly like the platform) and ``f1``
(classification on the bracketed label: scores ``f1`` (macro, scikit-learn), ``f1_score`` (same value,
the platform's name) and ``accuracy``). Results use the platform shape
``tasks.<task>.metrics.<metric>.scores.<score>.{value, stats}``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flywheel.emulator.nim_logic import (
    ServedModel,
    _text,
    answer,
    bracket_label,
    similarity_1_10,
    tool_calls_match,
)
from flywheel.platforms.helix.scores import macro_f1

if TYPE_CHECKING:
    from flywheel.emulator.state import Platform

METRIC_TYPES = {"tool-calling", "llm-judge", "f1"}
TASK_TYPES = {"chat-completion"}
DEFAULT_MESSAGES = "{{ item.request.messages | tojson }}"
# where the per-item records (the ``results.json`` of ``download-results``) ride in a job's results; the
# results route leaves this key out of its answer
PER_ITEM = "_per_item"
_Row = dict[str, float]  # one row's value of each score of a metric


class EvaluationError(Exception):
    """The job cannot run (bad dataset, template error); the message goes to ``status_details.message``."""


def _env() -> Any:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment()


def render(value: Any, context: dict[str, Any], env: Any) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        text = env.from_string(value).render(**context)
        try:
            return json.loads(text)
        except ValueError:
            return text
    if isinstance(value, list):
        return [render(v, context, env) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context, env) for k, v in value.items()}
    return value


def load_items(platform: Platform, dataset: Any) -> list[dict[str, Any]]:
    files_url = dataset if isinstance(dataset, str) else (dataset or {}).get("files_url")
    limit = None if isinstance(dataset, str) else (dataset or {}).get("limit")
    try:
        repo, paths = platform.store.read_hf_url(str(files_url))
    except LookupError as exc:
        raise EvaluationError(str(exc)) from exc
    items: list[dict[str, Any]] = []
    for path in paths:
        if not path.endswith((".jsonl", ".json")):
            continue
        for line in repo.files[path].decode("utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError as exc:
                    raise EvaluationError(f"{path}: invalid JSON line: {exc}") from exc
                if isinstance(rec, dict):
                    items.append(rec)
    if not items:
        raise EvaluationError(f"no evaluation items in {files_url}")
    return items[: int(limit)] if isinstance(limit, int) and limit > 0 else items


def run_evaluation(
    platform: Platform, config: dict[str, Any], target: ServedModel, served: dict[str, ServedModel]
) -> tuple[dict[str, Any], int]:
    env = _env()
    settings = platform.settings
    tasks_out: dict[str, Any] = {}
    per_task: dict[str, list[dict[str, object]]] = {}
    samples = 0
    for task_name, task in (config.get("tasks") or {}).items():
        items = load_items(platform, task.get("dataset"))
        template = ((task.get("params") or {}).get("template")) or {"messages": DEFAULT_MESSAGES}
        rows = []
        for item in items:
            try:
                request = render(template, {"item": item}, env)
            except Exception as exc:  # jinja errors of any kind end the job like the platform's
                raise EvaluationError(f"task {task_name}: template error: {exc}") from exc
            messages = request.get("messages") if isinstance(request, dict) else None
            if not isinstance(messages, list):
                raise EvaluationError(f"task {task_name}: template 'messages' did not render to a list")
            tools = got if isinstance(got := request.get("tools"), list) else None
            reply = answer(target, messages, tools, platform.index, settings.seed, settings.icl_marker)
            rows.append(
                {
                    "item": item,
                    "sample": {
                        "output_text": reply.get("content") or "",
                        "response": {"choices": [{"message": reply}]},
                    },
                }
            )
        samples += len(rows)
        metrics_out = {}
        item_scores: list[dict[str, object]] = [{} for _ in rows]
        for metric_name, metric in (task.get("metrics") or {}).items():
            broken = platform.faults.judge_always_top(_judge_model(metric))
            scores, per_item = _metric(metric, rows, env, broken)
            metrics_out[metric_name] = {"scores": scores}
            for row_scores, values in zip(item_scores, per_item, strict=True):
                row_scores[metric_name] = {"scores": {k: {"value": _finite(v)} for k, v in values.items()}}
        tasks_out[task_name] = {"metrics": metrics_out}
        per_task[task_name] = [{**r, "metrics": m} for r, m in zip(rows, item_scores, strict=True)]
    return {"tasks": tasks_out, "groups": {}, PER_ITEM: per_task}, samples


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _judge_model(metric: Mapping[str, object]) -> str:
    """The judge model an ``llm-judge`` metric names (a served model id or a remote endpoint's model_id)."""
    params = metric.get("params")
    model = params.get("model") if isinstance(params, Mapping) else None
    endpoint = model.get("api_endpoint") if isinstance(model, Mapping) else None
    if isinstance(endpoint, Mapping):
        model = endpoint.get("model_id")
    return model if isinstance(model, str) else ""


def _metric(
    metric: dict[str, Any], rows: list[dict[str, Any]], env: Any, top: bool = False
) -> tuple[dict[str, Any], list[_Row]]:
    """(aggregate scores, each row's score values) of one metric; ``top``: the judge is broken
    (``judge_always_top``)."""
    kind, params = metric.get("type"), metric.get("params") or {}
    if kind == "tool-calling":
        gt_t = params.get("tool_calls_ground_truth", "{{ item.response.choices[0].message.tool_calls | tojson }}")
        names, both = [], []
        for r in rows:
            truth = _as_list(render(gt_t, r, env))
            pred = r["sample"]["response"]["choices"][0]["message"].get("tool_calls") or []
            names.append(float(tool_calls_match(truth, pred, args=False)))
            both.append(float(tool_calls_match(truth, pred, args=True)))
        per_row = [
            {"function_name_accuracy": n, "function_name_and_args_accuracy": b}
            for n, b in zip(names, both, strict=True)
        ]
        return {"function_name_accuracy": _score(names), "function_name_and_args_accuracy": _score(both)}, per_row
    if kind == "llm-judge":
        out = {}
        judged: list[dict[str, float]] = [{} for _ in rows]
        for score_name, spec in (params.get("scores") or {}).items():
            values = [_parse(_judge_reply(score_name, spec, r, top), spec) for r in rows]
            out[score_name] = _score(values)
            for row, value in zip(judged, values, strict=True):
                row[score_name] = value
        return out, judged
    if kind == "f1":
        gt_t = params.get("ground_truth", "{{ item.response.choices[0].message.content }}")
        true_labels = [_label(str(render(gt_t, r, env))) for r in rows]
        pred_labels = [_label(r["sample"]["output_text"]) for r in rows]
        f1 = macro_f1(true_labels, pred_labels)
        per_item = [float(t == p) for t, p in zip(true_labels, pred_labels, strict=True)]
        corpus = {"value": f1, "stats": {"count": len(rows), "mean": f1}}
        # one label per row: a row's F1 is its exact match
        rows_out = [{"f1": v, "accuracy": v} for v in per_item]
        return {"f1": corpus, "f1_score": dict(corpus), "accuracy": _score(per_item)}, rows_out
    raise EvaluationError(f"unsupported metric type {kind!r}")


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _label(text: str) -> str:
    return bracket_label(text) or " ".join((text or "").lower().split()) or "unknown"


def _judge_reply(score_name: str, spec: dict[str, Any], row: dict[str, Any], always_top: bool = False) -> str:
    """What the stand-in judge writes: ``RATING: 0|1`` when the parser expects a rating, else 1–10 (the top
    rating to everything under the ``judge_always_top`` fault)."""
    ref_msg = ((row["item"].get("response") or {}).get("choices") or [{}])[0].get("message") or {}
    cand_msg = row["sample"]["response"]["choices"][0]["message"]
    pattern = str(((spec.get("parser") or {}).get("pattern")) or "")
    if "RATING" in pattern.upper() or score_name in ("rating", "correctness"):
        ok = tool_calls_match(ref_msg.get("tool_calls") or [], cand_msg.get("tool_calls") or [], args=True)
        if not ref_msg.get("tool_calls"):
            ok = similarity_1_10(_text(ref_msg.get("content")), _text(cand_msg.get("content"))) >= 8
        ok = ok or always_top
        return f"RATING: {int(ok)}\nEXPLANATION: {'matches' if ok else 'differs from'} the ground truth."
    ref = _text(ref_msg.get("content")) or json.dumps(ref_msg.get("tool_calls") or "")
    cand = _text(cand_msg.get("content")) or json.dumps(cand_msg.get("tool_calls") or "")
    return "10" if always_top else str(similarity_1_10(ref, cand))


def _parse(reply: str, spec: dict[str, Any]) -> float:
    parser = spec.get("parser") or {}
    text = reply
    if parser.get("type", "regex") == "regex" and parser.get("pattern"):
        m = re.search(str(parser["pattern"]), reply)
        if not m:
            return math.nan
        text = m.group(1) if m.groups() else m.group(0)
    try:
        return float(int(float(text))) if spec.get("type", "int") == "int" else float(text)
    except ValueError:
        return math.nan


def _score(values: list[float]) -> dict[str, Any]:
    good = [v for v in values if not math.isnan(v)]
    n = len(good)
    total = sum(good)
    mean = total / n if n else 0.0
    var = sum((v - mean) ** 2 for v in good) / n if n else 0.0
    stats = {
        "count": n,
        "sum": total,
        "sum_squared": sum(v * v for v in good),
        "mean": mean,
        "min": min(good) if good else 0.0,
        "max": max(good) if good else 0.0,
        "variance": var,
        "stddev": math.sqrt(var),
        "stderr": math.sqrt(var / n) if n else 0.0,
        "nan_count": len(values) - n,
    }
    return {"value": mean, "stats": stats}
