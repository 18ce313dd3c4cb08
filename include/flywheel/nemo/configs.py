"""Pure builders of NeMo request payloads (evaluation configs, customization configs and jobs, deployments).

Evaluation configs per workload type (all ``custom`` configs with one ``chat-completion`` task):

- ``generic``: an ``llm-judge`` metric scoring similarity 1–10. The parser takes the whole number
  (``10`` stays 10; the reference's ``(\\d)`` read it as 1).
- ``tool_calling``: the ``tool-calling`` metric (function name / name+args accuracy) plus, when a
  judge is given, an ``llm-judge`` correctness rating 0/1.
- ``classification``: the ``f1`` metric on the bracketed label (``[[label]]``) of the answer.

``read_scores`` (re-exported from :mod:`flywheel.nemo.scores`) maps results back to the report keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.nemo.scores import TASKS, read_scores
from flywheel.platforms import marks

__all__ = [
    "TASKS",
    "JudgeRef",
    "customization_config",
    "customization_job",
    "deployment_body",
    "evaluation_config",
    "evaluation_target",
    "judge_ref",
    "read_scores",
    "redacted",
    "slug",
]

WORKLOAD_TYPES = ("generic", "tool_calling", "classification")
SIMILARITY_PATTERN = r"(?<!\d)(10|[1-9])(?!\d)"
RATING_PATTERN = r"RATING:\s*([01])\b"
MESSAGES = "{{ item.request.messages | tojson }}"
TOOLS = "{{ item.request.tools | tojson }}"
TRUTH_CALLS = "{{ item.response.choices[0].message.tool_calls | tojson }}"
TRUTH_TEXT = "{{ item.response.choices[0].message.content | trim }}"
CONFIG_VERSION = "v1.0.0"

SIMILARITY_SYSTEM = (
    "You grade how close a candidate answer is in meaning to a reference answer for the same task. "
    "Score from 1 to 10: 10 means the same meaning and completeness, 7-9 small omissions or extra detail, "
    "4-6 partly right, 2-3 mostly wrong, 1 unrelated or empty. Reply with the whole number only."
)
SIMILARITY_USER = (
    "Task given to the assistant:\n{{ item.request.messages | tojson }}\n\n"
    "Reference answer:\n{{ item.response.choices[0].message.content }}\n\n"
    "Candidate answer:\n{{ sample.output_text }}\n\nScore (1-10):"
)
CORRECTNESS_SYSTEM = (
    "You check whether a predicted tool call does what the expected tool call does. The function name must "
    "be identical. Every expected argument must be present: identifiers, codes and numbers must match "
    "exactly, free-text arguments must mean the same. Answer on the first line 'RATING: 1' when the "
    "prediction is correct and 'RATING: 0' otherwise, then 'EXPLANATION:' and one sentence."
)
CORRECTNESS_USER = (
    "Expected tool calls:\n{{ item.response.choices[0].message.tool_calls | tojson }}\n\n"
    "Predicted tool calls:\n{{ sample.response.choices[0].message.tool_calls | tojson }}"
)


@dataclass(frozen=True)
class JudgeRef:
    """The LLM judge as an evaluation config names it: a served model id, or a remote endpoint."""

    mode: str
    model_name: str
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)

    def as_model(self) -> str | dict[str, Any]:
        if self.mode == "local":
            return self.model_name
        endpoint: dict[str, Any] = {"url": self.url, "model_id": self.model_name}
        if self.api_key:  # the platform calls the judge itself, so it needs the key; never logged (redacted())
            endpoint["api_key"] = self.api_key
        return {"api_endpoint": endpoint}


def judge_ref(mode: str, model_name: str, url: str | None, api_key: str | None) -> JudgeRef | None:
    if mode == "none":
        return None
    if mode not in ("local", "remote"):
        raise ValueError(f"judge mode must be local, remote or none, got {mode!r}")
    if not model_name:
        raise ValueError("judge needs a model_name")
    if mode == "remote":
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError(f"remote judge needs the full chat-completions URL, got {url!r}")
        return JudgeRef("remote", model_name, url, api_key or None)
    return JudgeRef("local", model_name)


# a Helix fileset file as the DAG names it (``ws/fileset`` + ``/<file>``); the helix adapter turns it
# into Helix's own ``ws/fileset#<file>``
_HELIX_FILE = re.compile(r"^[a-z0-9][a-z0-9\-@.+_]*/[a-z][a-z0-9\-@.+_]*/[^/#:][^#:]*[^/]$")


def _dataset(files_url: str, limit: int | None) -> dict[str, Any]:
    nmp = files_url.startswith("hf://datasets/") and not files_url.endswith("/")
    if not (nmp or _HELIX_FILE.match(files_url)):
        raise ValueError(
            "files_url must point at a file, hf://datasets/<ns>/<name>/<file> (NMP) or "
            f"<workspace>/<fileset>/<file> (Helix); got {files_url!r}"
        )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be ≥ 1 or None, got {limit}")
    return {"files_url": files_url} if limit is None else {"files_url": files_url, "limit": int(limit)}


def _judge_metric(judge: JudgeRef, system: str, user: str, score: str, pattern: str) -> dict[str, Any]:
    return {
        "type": "llm-judge",
        "params": {
            "model": judge.as_model(),
            "template": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
            "scores": {score: {"type": "int", "parser": {"type": "regex", "pattern": pattern}}},
        },
    }


def evaluation_config(workload_type: str, files_url: str, judge: JudgeRef | None, limit: int | None) -> dict[str, Any]:
    """Inline ``custom`` evaluation config for one eval file (``hf://datasets/<ns>/<name>/eval_data.jsonl``)."""
    dataset = _dataset(files_url, limit)
    if workload_type == "generic":
        if judge is None:
            raise ValueError("generic workloads are scored by an LLM judge: a judge is required")
        task = {
            "type": "chat-completion",
            "dataset": dataset,
            "params": {"template": {"messages": MESSAGES}},
            "metrics": {
                "llm-judge": _judge_metric(judge, SIMILARITY_SYSTEM, SIMILARITY_USER, "similarity", SIMILARITY_PATTERN)
            },
        }
    elif workload_type == "tool_calling":
        metrics: dict[str, Any] = {
            "tool-calling-accuracy": {"type": "tool-calling", "params": {"tool_calls_ground_truth": TRUTH_CALLS}}
        }
        if judge is not None:
            metrics["correctness"] = _judge_metric(
                judge, CORRECTNESS_SYSTEM, CORRECTNESS_USER, "rating", RATING_PATTERN
            )
        task = {
            "type": "chat-completion",
            "dataset": dataset,
            "metrics": metrics,
            "params": {"template": {"messages": MESSAGES, "tools": TOOLS, "tool_choice": "required"}},
        }
    elif workload_type == "classification":
        task = {
            "type": "chat-completion",
            "dataset": dataset,
            "params": {"template": {"messages": MESSAGES}},
            "metrics": {"f1": {"type": "f1", "params": {"ground_truth": TRUTH_TEXT}}},
        }
    else:
        raise ValueError(f"unknown workload type {workload_type!r} (one of {', '.join(WORKLOAD_TYPES)})")
    return {"type": "custom", "tasks": {TASKS[workload_type]: task}}


def evaluation_target(model_id: str, served_url: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """A model the NIM proxy serves, or (``served_url``) one already served elsewhere, reached directly
    with its own ``api_key`` (the platform calls it, so the job carries the key: log only :func:`redacted`)."""
    if not model_id or not isinstance(model_id, str):
        raise ValueError("evaluation target needs a model id")
    if served_url:
        endpoint = {"url": f"{served_url.rstrip('/')}/v1/chat/completions", "model_id": model_id}
        if api_key:
            endpoint["api_key"] = api_key
        return {"type": "model", "model": {"api_endpoint": endpoint}}
    return {"type": "model", "model": model_id}


def redacted(value: Any) -> Any:
    """A copy of a payload with every ``api_key`` replaced, for logs and XCom."""
    if isinstance(value, dict):
        return {k: ("***" if k == "api_key" and v else redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ customization
def slug(text: str, limit: int = 40) -> str:
    """Lower-case ``[a-z0-9-]`` form of a name (no ``/``), for platform object names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def _short_hash(*parts: str, n: int = 10) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:n]


def customization_config(nim: NimConfig, training: TrainingConfig, namespace: str) -> tuple[str, dict[str, Any]]:
    """(name, body) of the customization config for a NIM. The name carries a hash of the body, so a
    changed config (GPUs, sequence length, target, fine-tuning type) gets a new config instead of the
    stale one being reused (reference defect §16.12)."""
    c = nim.customizer
    if c is None:
        raise ValueError(f"NIM {nim.model_name} has no customizer block (customization target, gpus, ...)")
    body: dict[str, Any] = {
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
    digest = _short_hash(json.dumps(body, sort_keys=True), n=8)
    name = f"{nim.model_name.split('/', 1)[1]}@{CONFIG_VERSION}+dfw.{digest}"
    return name, {"name": name, **body}


def customization_job(
    workload_id: str,
    run_tag: str,
    nim: NimConfig,
    config_ref: str,
    train_dataset: str,
    namespace: str,
    training: TrainingConfig,
    lora: LoraConfig,
) -> dict[str, Any]:
    """Customization job payload. Names are unique per (workload, run, NIM) and contain no ``/``."""
    if "/" not in config_ref:
        raise ValueError(f"config_ref must be '<namespace>/<config name>', got {config_ref!r}")
    if not train_dataset:
        raise ValueError("customization needs the training dataset name")
    tag = _short_hash(workload_id, run_tag, nim.model_name)
    model = slug(nim.model_name.split("/", 1)[1], 30)
    hyper: dict[str, Any] = {
        "training_type": training.training_type,
        "finetuning_type": training.finetuning_type,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "learning_rate": training.learning_rate,
    }
    if training.finetuning_type == "lora":
        hyper["lora"] = {"adapter_dim": lora.adapter_dim, "adapter_dropout": lora.adapter_dropout}
    return {
        "name": f"customization-{slug(workload_id, 30)}-{model}-{tag}",
        "namespace": namespace,
        "output_model": f"{namespace}/{model}-dfw-{tag}",
        "config": config_ref,
        "dataset": {"name": train_dataset, "namespace": namespace},
        "hyperparameters": hyper,
        "custom_fields": {marks.WORKLOAD: workload_id, marks.RUN: run_tag},
    }


def deployment_body(nim: NimConfig, namespace: str, custom_fields: dict[str, str]) -> dict[str, Any]:
    """DMS model-deployment body: name = the NIM's deployment name, our marks in ``custom_fields``."""
    envs = {"NIM_GUIDED_DECODING_BACKEND": "outlines", **nim.additional_envs}
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
