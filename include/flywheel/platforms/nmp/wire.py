"""The NMP 25.x wire: the port's specs as NMP request bodies, and NMP answers read back as the port's
results and rows. Pure functions (no I/O): the sync and the async client share them.

Evaluation configs are ``custom`` configs with one ``chat-completion`` task: ``llm-judge`` (generic),
``tool-calling`` (+ a ``correctness`` judge), ``f1`` on the bracketed label (classification).
"""

from __future__ import annotations

import io
import json
import zipfile

from flywheel.config import NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core import configs as C
from flywheel.platforms.core.jsonread import obj, objs
from flywheel.platforms.core.scores import TASKS, ScoreError
from flywheel.platforms.core.slices import row_slice
from flywheel.platforms.core.specs import (
    WORKLOAD_TYPES,
    CustomizationSpec,
    EvalRow,
    EvaluationResults,
    EvaluationSpec,
    EvaluationTarget,
    JudgeRef,
    Score,
)

WORKLOAD_OF_TASK = {task: workload for workload, task in TASKS.items()}
MESSAGES, TOOLS, TRUTH_CALLS, TRUTH_TEXT = C.MESSAGES, C.TOOLS, C.TRUTH_CALLS, C.TRUTH_TEXT
SIMILARITY_USER, CORRECTNESS_USER = C.SIMILARITY_USER, C.CORRECTNESS_USER


# ------------------------------------------------------------------------------------------ requests
def judge_model(judge: JudgeRef) -> JsonValue:
    """The judge as an NMP config names it: a served model id, or an ``api_endpoint`` (with its key: the
    platform calls the judge itself; log only :func:`flywheel.platforms.core.configs.redacted`)."""
    if judge.mode == "local":
        return judge.model_name
    endpoint: JsonObject = {"url": judge.url, "model_id": judge.model_name}
    if judge.api_key:
        endpoint["api_key"] = judge.api_key
    return {"api_endpoint": endpoint}


def _judge_metric(judge: JudgeRef, system: str, user: str, score: str, pattern: str) -> JsonObject:
    return {
        "type": "llm-judge",
        "params": {
            "model": judge_model(judge),
            "template": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
            "scores": {score: {"type": "int", "parser": {"type": "regex", "pattern": pattern}}},
        },
    }


def evaluation_config(spec: EvaluationSpec) -> JsonObject:
    """Inline ``custom`` evaluation config of a spec."""
    dataset: JsonObject = {"files_url": spec.files_url}
    if spec.limit is not None:
        dataset["limit"] = int(spec.limit)
    metrics: JsonObject
    params: JsonObject = {"template": {"messages": MESSAGES}}
    if spec.workload_type == "generic":
        if spec.judge is None:
            raise ValueError("generic workloads are scored by an LLM judge: a judge is required")
        metrics = {
            "llm-judge": _judge_metric(
                spec.judge, C.SIMILARITY_SYSTEM, SIMILARITY_USER, "similarity", C.SIMILARITY_PATTERN
            )
        }
    elif spec.workload_type == "tool_calling":
        metrics = {
            "tool-calling-accuracy": {"type": "tool-calling", "params": {"tool_calls_ground_truth": TRUTH_CALLS}}
        }
        if spec.judge is not None:
            metrics["correctness"] = _judge_metric(
                spec.judge, C.CORRECTNESS_SYSTEM, CORRECTNESS_USER, "rating", C.RATING_PATTERN
            )
        params = {"template": {"messages": MESSAGES, "tools": TOOLS, "tool_choice": "required"}}
    else:
        metrics = {"f1": {"type": "f1", "params": {"ground_truth": TRUTH_TEXT}}}
    task: JsonObject = {"type": "chat-completion", "dataset": dataset, "params": params, "metrics": metrics}
    return {"type": "custom", "tasks": {TASKS[spec.workload_type]: task}}


def evaluation_target(target: EvaluationTarget) -> JsonObject:
    if target.served_url:
        endpoint: JsonObject = {"url": f"{target.served_url}/v1/chat/completions", "model_id": target.model}
        if target.api_key:
            endpoint["api_key"] = target.api_key
        return {"type": "model", "model": {"api_endpoint": endpoint}}
    return {"type": "model", "model": target.model}


def customization_config(nim: NimConfig, training: TrainingConfig, namespace: str) -> tuple[str, JsonObject]:
    """(name, body) of the customization config for a NIM. The name carries a hash of the body, so a
    changed config (GPUs, sequence length, target, fine-tuning type) gets a new config instead of the
    stale one being reused (reference defect §16.12)."""
    c = nim.customizer
    if c is None:
        raise ValueError(f"NIM {nim.model_name} has no customizer block (customization target, gpus, ...)")
    body: JsonObject = {
        "namespace": namespace,
        "target": c.target,
        "training_options": [
            {
                "training_type": training.training_type,
                "finetuning_type": training.finetuning_type,
                "num_gpus": c.gpus,
                "num_nodes": c.num_nodes,
                "tensor_parallel_size": c.tensor_parallel_size,
                "data_parallel_size": c.data_parallel_size,
                "use_sequence_parallel": c.use_sequence_parallel,
                "micro_batch_size": c.micro_batch_size,
            }
        ],
        "training_precision": c.training_precision,
        "max_seq_length": c.max_seq_length,
    }
    digest = C.short_hash(json.dumps(body, sort_keys=True), n=8)
    name = f"{nim.model_name.split('/', 1)[1]}@{C.CONFIG_VERSION}+dfw.{digest}"
    return name, {"name": name, **body}


def customization_job(spec: CustomizationSpec) -> JsonObject:
    t = spec.training
    hyper: JsonObject = {
        "training_type": t.training_type,
        "finetuning_type": t.finetuning_type,
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "learning_rate": t.learning_rate,
    }
    if spec.lora is not None:
        hyper["lora"] = {"adapter_dim": spec.lora.adapter_dim, "adapter_dropout": spec.lora.adapter_dropout}
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "output_model": spec.output_model,
        "config": spec.config,
        "dataset": {"name": spec.dataset, "namespace": spec.namespace},
        "hyperparameters": hyper,
        "custom_fields": dict[str, JsonValue](spec.marks),
    }


def deployment_body(nim: NimConfig, namespace: str, custom_fields: dict[str, str]) -> JsonObject:
    """DMS model-deployment body: name = the NIM's deployment name, our marks in ``custom_fields``."""
    envs: JsonObject = {"NIM_GUIDED_DECODING_BACKEND": "outlines", **nim.additional_envs}
    return {
        "name": nim.deployment_name,
        "namespace": namespace,
        "config": {
            "model": nim.model_name,
            "nim_deployment": {
                "image_name": nim.image_name,
                "image_tag": nim.tag,
                "pvc_size": nim.pvc_size,
                "gpu": nim.gpus,
                "additional_envs": envs,
            },
        },
        "custom_fields": {str(k): str(v) for k, v in custom_fields.items()},
    }


# ------------------------------------------------------------------------------------------- answers
def _score(entry: JsonValue) -> Score:
    if not isinstance(entry, dict):
        return Score(value=entry if isinstance(entry, int | float) and not isinstance(entry, bool) else None)
    value, count = entry.get("value"), obj(entry.get("stats")).get("count")
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if value is not None and number is None:
        raise ScoreError(f"score value is not a number: {value!r}")
    return Score(value=number, count=count if isinstance(count, int) else None)


def _metrics(block: JsonValue) -> dict[str, dict[str, Score]]:
    out: dict[str, dict[str, Score]] = {}
    for metric, body in obj(block).items():
        scores = obj(obj(body).get("scores"))
        out[metric] = {name: _score(entry) for name, entry in scores.items()}
    return out


def results(answer: JsonObject) -> EvaluationResults:
    """``GET /v1/evaluation/jobs/{id}/results`` (``tasks.<task>.metrics.<metric>.scores.<score>``)."""
    tasks = obj(answer.get("tasks"))
    if not tasks:
        raise ScoreError("evaluation results have no 'tasks'")
    merged: dict[str, dict[str, Score]] = {}
    workload = None
    for name, task in tasks.items():
        workload = workload or WORKLOAD_OF_TASK.get(name)
        merged.update(_metrics(obj(task).get("metrics")))
    kind = workload if workload in WORKLOAD_TYPES else None
    return EvaluationResults.model_validate({"workload_type": kind, "metrics": merged, "raw": answer})


def results_json(archive: bytes) -> JsonObject:
    """The ``results.json`` of a ``download-results`` archive (a ZIP of the job's result directory)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            names = [n for n in zf.namelist() if n == "results.json" or n.endswith("/results.json")]
            if not names:
                raise ScoreError("the results archive holds no results.json")
            data = json.loads(zf.read(sorted(names, key=len)[0]))
    except zipfile.BadZipFile as exc:
        raise ScoreError(f"the results download is not a ZIP archive: {exc}") from exc
    if not isinstance(data, dict):
        raise ScoreError("results.json is not a JSON object")
    return data


def rows(data: JsonObject) -> list[EvalRow]:
    """Per-row results of ``results.json``: ``{<task>: [{item, sample, metrics: {<metric>: {scores:
    {<score>: {value}}}}}]}``; a row's id is its item's ``id`` (else its position). NMP 25.x's per-item
    record carries no judge text, so ``judge_answer`` stays None here."""
    out: list[EvalRow] = []
    for task, records in data.items():
        workload = WORKLOAD_OF_TASK.get(task)
        for i, record in enumerate(objs(records)):
            item = obj(record.get("item"))
            values: dict[str, float | None] = {}
            for metric, scores in _metrics(record.get("metrics")).items():
                values.update({f"{metric}.{name}": s.value for name, s in scores.items()})
            row_id = item.get("id")
            out.append(
                EvalRow(
                    row_id=str(row_id) if isinstance(row_id, str | int) else str(i),
                    slice=row_slice(workload, item) if workload else None,
                    scores=values,
                )
            )
    return out
