"""Pure builders of Helix v2 request bodies: deployments, automodel LoRA jobs, evaluation jobs.

Evaluation jobs carry their metrics as inline *metric bundles* (the form Helix's Evaluator SDK sends:
a bundle names its metric type and outputs, and its payload holds the metric config plus a sha256 of
that config's canonical JSON). Per workload type, with the same prompts and parsers as the NMP configs:

- ``generic``: an ``llm-judge`` metric, score ``similarity`` 1–10 read with our regex.
- ``tool_calling``: ``tool-calling`` (``function_name_accuracy``, ``function_name_and_args_accuracy``),
  plus an ``llm-judge`` ``rating`` 0/1 when a judge is given.
- ``classification``: ``exact-match`` on the bracketed label of reference and answer; Helix has no
  classification F1 (its ``f1`` is token overlap), so macro F1 is computed from the row scores
  (:mod:`flywheel.platforms.helix.scores`).

A remote judge's API key never goes into a job: it is a Helix secret of the workspace
(:func:`judge_secret_name`), which the judge model names (``api_key_secret``) and its metric bundle maps
to an environment variable (``secrets``); Helix injects the value into the evaluation job's process.
The key of a candidate served elsewhere is a secret too (:func:`served_secret_name`), named by our provider
(``api_key_secret_name``): the gateway sends it upstream.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.configs import (
    CORRECTNESS_SYSTEM,
    MESSAGES,
    RATING_PATTERN,
    SIMILARITY_PATTERN,
    SIMILARITY_SYSTEM,
    TOOLS,
    slug,
)
from flywheel.platforms.core.specs import WORKLOAD_TYPES
from flywheel.platforms.marks import mark_text

_CONTINUOUS = {"description": "Continuous numeric metric value.", "title": "ContinuousScore", "type": "number"}
# The bracketed label (``[[label]]``) of a text, lower-cased, or the whole trimmed text when it has none:
# what the NMP classification metric compares, written in the sandboxed Jinja Helix renders templates with.
_LABEL = (
    "{{% set t = {src} | string %}}"
    "{{% if '[[' in t and ']]' in t.split('[[')[1] %}}{{{{ t.split('[[')[1].split(']]')[0] | trim | lower }}}}"
    "{{% else %}}{{{{ t | trim | lower }}}}{{% endif %}}"
)
TRUTH_LABEL = _LABEL.format(src="item.response.choices[0].message.content")
ANSWER_LABEL = _LABEL.format(src="sample.output_text")
# Judge user prompts. Helix JSON-decodes any rendered template that mentions ``tojson``, so text prompts
# spell conversations and tool calls out with loops instead (the system prompts are the NMP ones).
_CONVERSATION = "{% for m in item.request.messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
_CALLS = "{% for c in CALLS or [] %}{{ c.function.name }}({{ c.function.arguments }})\n{% endfor %}"
SIMILARITY_USER = (
    f"Task given to the assistant:\n{_CONVERSATION}\n"
    "Reference answer:\n{{ item.response.choices[0].message.content }}\n\n"
    "Candidate answer:\n{{ sample.output_text }}\n\nScore (1-10):"
)
CORRECTNESS_USER = (
    "Expected tool calls:\n"
    + _CALLS.replace("CALLS", "item.response.choices[0].message.tool_calls")
    + "\nPredicted tool calls:\n"
    + _CALLS.replace("CALLS", "sample.response.choices[0].message.tool_calls")
)
# The logged tool calls as Helix's tool-calling metric needs them: it compares the reference's
# ``arguments`` with the JSON-*parsed* arguments of the answer, while logs carry OpenAI's arguments string.
# Written out raw, that string is JSON text, so the decoded reference holds the parsed object.
# Parsed arguments lose their null keys: Helix loads the dataset as one table, so every row's arguments
# carry every argument name of any row (null where the call had none), which no answer ever matches.
TRUTH_CALLS = (
    "[{% for c in item.response.choices[0].message.tool_calls or [] %}{% if not loop.first %}, {% endif %}"
    '{"type": "function", "function": {"name": {{ c.function.name | tojson }}, "arguments": '
    "{% if c.function.arguments is string %}{{ c.function.arguments or '{}' }}"
    "{% elif c.function.arguments is mapping %}{ {% for k, v in c.function.arguments.items() if v is not none %}"
    "{% if not loop.first %}, {% endif %}{{ k | tojson }}: {{ v | tojson }}{% endfor %} }"
    "{% else %}{}{% endif %} } }{% endfor %}]"
)
NAME_RE = re.compile(r"^[a-z](?!.*--)[a-z0-9\-@.+_]{1,62}(?<!-)$")


def helix_name(*parts: str, limit: int = 63) -> str:
    """A valid Helix object name (lower-case, starts with a letter, no ``--``, ≤ 63 chars)."""
    text = "-".join(slug(p, 63) for p in parts if p)
    text = re.sub(r"-{2,}", "-", text)[:limit].strip("-")
    if not text or not text[0].isalpha():
        text = f"x-{text}"[:limit].strip("-")
    if not NAME_RE.match(text):
        raise ValueError(f"cannot make a Helix name from {parts!r}")
    return text


def entity_name(model_name: str) -> str:
    """How Helix names the model entity of a served model: ``meta/llama-3.2-1b-instruct`` →
    ``meta-llama-3-2-1b-instruct`` (non-alphanumerics become ``-``)."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", model_name.lower())).strip("-")


# ------------------------------------------------------------------------------------------- workspace, files
def workspace_body(name: str, description: str = "") -> JsonObject:
    return {"name": name, "description": description or None}


def fileset_body(name: str, description: str = "") -> JsonObject:
    return {"name": name, "purpose": "dataset", "description": description}


# ------------------------------------------------------------------------------------------- secrets
def judge_secret_name(url: str, model: str) -> str:
    """The workspace secret holding the API key of the remote judge ``model`` at ``url``: one per
    endpoint and model, so a changed key replaces the value of the same secret."""
    return _endpoint_secret("judge", url, model)


def judge_secret_description(url: str, model: str) -> str:
    return f"API key of the flywheel's remote LLM judge {model} at {url}"


def served_secret_name(url: str, model: str) -> str:
    """The workspace secret holding the API key of a candidate ``model`` already served at ``url``."""
    return _endpoint_secret("served", url, model)


def served_secret_description(url: str, model: str) -> str:
    return f"API key of the flywheel's candidate {model} served at {url}"


def _endpoint_secret(role: str, url: str, model: str) -> str:
    digest = hashlib.sha256(f"{url}\x1f{model}".encode()).hexdigest()[:12]
    return f"flywheel-{role}-{digest}"


def secret_body(name: str, value: str, description: str) -> JsonObject:
    return {"name": name, "value": value, "description": description}


def secret_update_body(value: str, description: str) -> JsonObject:
    return {"value": value, "description": description}


def secret_env(secret: str) -> str:
    """The environment variable a job reads a secret from, named as Helix's evaluator SDK names it for a
    model's ``api_key_secret`` (``-`` and ``/`` become ``_``; a leading digit gets a ``_``)."""
    env = secret.replace("-", "_").replace("/", "_")
    return f"_{env}" if env[:1].isdigit() else env


# ------------------------------------------------------------------------------------------- deployments
def deployment_config_body(nim: NimConfig, name: str, marks: dict[str, str], lora: bool) -> JsonObject:
    org, _, model = nim.model_name.partition("/")
    executor: JsonObject = {
        "gpu": nim.gpus,
        "disk_size": nim.pvc_size,
        "additional_envs": {"NIM_GUIDED_DECODING_BACKEND": "outlines", **nim.additional_envs},
    }
    if nim.image:
        executor["image_name"] = nim.image
        executor["image_tag"] = nim.tag
    return {
        "name": name,
        "description": mark_text(marks),
        "engine": "nim",
        "model_spec": {"model_namespace": org, "model_name": model, "lora_enabled": lora},
        "executor_config": executor,
    }


def deployment_body(name: str, config: str) -> JsonObject:
    return {"name": name, "config": config}


# ------------------------------------------------------------------------------------------- providers
def provider_body(
    name: str, host_url: str, models: list[str], marks: dict[str, str], api_key_secret: str | None = None
) -> JsonObject:
    """A provider of ours; ``api_key_secret`` names the workspace secret the gateway sends upstream."""
    if not host_url.startswith(("http://", "https://")):
        raise ValueError(f"a provider needs an http(s) base URL, got {host_url!r}")
    body: JsonObject = {
        "name": name,
        "host_url": host_url.rstrip("/"),
        "enabled_models": list[JsonValue](models),
        "description": mark_text(marks),
    }
    if api_key_secret:
        body["api_key_secret_name"] = api_key_secret
    return body


def served_provider_name(nim: NimConfig, owner: str) -> str:
    """Our provider for a candidate already served elsewhere: one per run (``owner``) and NIM."""
    digest = hashlib.sha256(owner.encode()).hexdigest()[:10]
    return helix_name("served", digest, nim.deployment_name)


# ------------------------------------------------------------------------------------------- customization
def automodel_job(
    name: str,
    model: str,
    training_fileset: str,
    validation_fileset: str | None,
    output_name: str,
    training: TrainingConfig,
    lora: LoraConfig,
    marks: dict[str, str],
) -> JsonObject:
    """An automodel SFT job; ``model`` is ``ws/entity``, filesets are ``ws/fileset`` references."""
    dataset: JsonObject = {"training": training_fileset}
    if validation_fileset:
        dataset["validation"] = validation_fileset
    spec_training: JsonObject = {
        "training_type": training.training_type,
        "finetuning_type": training.finetuning_type,
    }
    if training.finetuning_type == "lora":
        # NMP's adapter_dim is the LoRA rank; alpha = 2 x rank is the usual scaling
        spec_training["lora"] = {
            "rank": lora.adapter_dim,
            "alpha": 2 * lora.adapter_dim,
            "dropout": lora.adapter_dropout,
        }
    return {
        "name": name,
        "spec": {
            "model": model,
            "dataset": dataset,
            "training": spec_training,
            "schedule": {"epochs": training.epochs},
            "batch": {"global_batch_size": training.batch_size},
            "optimizer": {"learning_rate": training.learning_rate},
            "output": {"name": output_name},
        },
        "custom_fields": dict(marks),
    }


# ------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class ModelTarget:
    """An OpenAI-compatible chat endpoint (full ``.../chat/completions`` URL), the model name it serves and,
    for an endpoint that wants an API key, the workspace secret holding it."""

    url: str
    name: str
    api_key_secret: str | None = None

    def as_json(self) -> JsonObject:
        out: JsonObject = {"url": self.url, "name": self.name}
        if self.api_key_secret:
            out["api_key_secret"] = self.api_key_secret
        return out

    def secrets(self) -> dict[str, str]:
        """{environment variable: workspace secret} the job needs to call this endpoint."""
        return {secret_env(self.api_key_secret): self.api_key_secret} if self.api_key_secret else {}


def _digest(metric: JsonObject) -> str:
    return hashlib.sha256(json.dumps(metric, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def metric_bundle(metric: JsonObject, outputs: list[str], secrets: dict[str, str] | None = None) -> JsonObject:
    return {
        "bundle_kind": "metric-bundle",
        "bundle_format_version": "v1",
        "metric_type": metric["type"],
        "metadata": {"description": None, "labels": {}},
        "outputs": [{"name": o, "description": None, "value_json_schema": dict(_CONTINUOUS)} for o in outputs],
        "secrets": dict(secrets or {}),
        "payload": {"kind": "inline", "metric": metric, "digest": _digest(metric)},
    }


def judge_metric(
    judge: ModelTarget, system: str, user: str, score: str, pattern: str, low: int, high: int
) -> JsonObject:
    metric: JsonObject = {
        "type": "llm-judge",
        "model": judge.as_json(),
        "scores": [
            {
                "name": score,
                "parser": {"type": "regex", "pattern": pattern, "method": "search"},
                "minimum": low,
                "maximum": high,
            }
        ],
        "prompt_template": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
    }
    return metric_bundle(metric, [score], judge.secrets())


def evaluation_spec(
    workload_type: str, dataset: str, target: ModelTarget, judge: ModelTarget | None, limit: int | None
) -> JsonObject:
    """The ``spec`` of an ``evaluate/jobs`` request; ``dataset`` is ``ws/fileset`` (its eval file)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be ≥ 1 or None, got {limit}")
    prompt: JsonObject = {"messages": MESSAGES}
    if workload_type == "generic":
        if judge is None:
            raise ValueError("generic workloads are scored by an LLM judge: a judge is required")
        metrics: list[JsonValue] = [
            judge_metric(judge, SIMILARITY_SYSTEM, SIMILARITY_USER, "similarity", SIMILARITY_PATTERN, 1, 10)
        ]
    elif workload_type == "tool_calling":
        tool_metric: JsonObject = {"type": "tool-calling", "reference": TRUTH_CALLS}
        metrics = [metric_bundle(tool_metric, ["function_name_accuracy", "function_name_and_args_accuracy"])]
        if judge is not None:
            metrics.append(judge_metric(judge, CORRECTNESS_SYSTEM, CORRECTNESS_USER, "rating", RATING_PATTERN, 0, 1))
        prompt = {"messages": MESSAGES, "tools": TOOLS, "tool_choice": "required"}
    elif workload_type == "classification":
        exact: JsonObject = {"type": "exact-match", "reference": TRUTH_LABEL, "candidate": ANSWER_LABEL}
        metrics = [metric_bundle(exact, ["exact-match"])]
    else:
        raise ValueError(f"unknown workload type {workload_type!r} (one of {', '.join(WORKLOAD_TYPES)})")
    # the online-model run config in full: Helix picks the params type from the fields present, and a
    # model target needs this one (a bare {"parallelism"} parses as the offline config and is refused)
    params: JsonObject = {
        "parallelism": 8,
        "limit_samples": None if limit is None else int(limit),
        "ignore_request_failure": False,
        "request_timeout": None,
        "max_retries": 3,
        "inference": None,
        "system_prompt": None,
        "reasoning": None,
        "structured_output": None,
    }
    return {
        "dataset": dataset,
        "params": params,
        "target": target.as_json(),
        "prompt_template": prompt,
        "metrics": metrics,
    }


def evaluation_job(name: str, spec: JsonObject, marks: dict[str, str]) -> JsonObject:
    return {"name": name, "spec": spec, "custom_fields": dict(marks)}
