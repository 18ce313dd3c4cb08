"""Build the port's requests (:mod:`flywheel.platforms.core.specs`) from the run's settings, with the
checks every backend needs, and the prompts and parsers every backend's judge uses.

Per workload type (each adapter turns the spec into its own metrics, see ``nmp/wire.py`` and
``helix/payloads.py``):

- ``generic``: an LLM judge scores similarity 1–10. The parser takes the whole number
  (``10`` stays 10; the reference's ``(\\d)`` read it as 1).
- ``tool_calling``: function name / name+args accuracy plus, when a judge is given, a judge's
  correctness rating 0/1.
- ``classification``: F1 (and accuracy) on the bracketed label (``[[label]]``) of the answer.

``read_scores`` (re-exported from :mod:`flywheel.platforms.core.scores`) maps results to the report keys.
"""

from __future__ import annotations

import hashlib
import re

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.jsontypes import JsonValue
from flywheel.platforms import marks
from flywheel.platforms.core.scores import TASKS, read_scores
from flywheel.platforms.core.specs import (
    WORKLOAD_TYPES,
    CustomizationSpec,
    EvaluationSpec,
    EvaluationTarget,
    JudgeRef,
)

__all__ = [
    "TASKS",
    "JudgeRef",
    "customization_job",
    "evaluation_config",
    "evaluation_target",
    "judge_ref",
    "read_scores",
    "redacted",
    "slug",
]

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
        return JudgeRef(mode="remote", model_name=model_name, url=url, api_key=api_key or None)
    return JudgeRef(mode="local", model_name=model_name)


# a Helix fileset file as the DAG names it (``ws/fileset`` + ``/<file>``); the helix adapter turns it
# into Helix's own ``ws/fileset#<file>``
_HELIX_FILE = re.compile(r"^[a-z0-9][a-z0-9\-@.+_]*/[a-z][a-z0-9\-@.+_]*/[^/#:][^#:]*[^/]$")


def _check_file(files_url: str, limit: int | None) -> None:
    nmp = files_url.startswith("hf://datasets/") and not files_url.endswith("/")
    if not (nmp or _HELIX_FILE.match(files_url)):
        raise ValueError(
            "files_url must point at a file, hf://datasets/<ns>/<name>/<file> (NMP) or "
            f"<workspace>/<fileset>/<file> (Helix); got {files_url!r}"
        )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be ≥ 1 or None, got {limit}")


def evaluation_config(workload_type: str, files_url: str, judge: JudgeRef | None, limit: int | None) -> EvaluationSpec:
    """The evaluation of one eval file (``hf://datasets/<ns>/<name>/eval_data.jsonl`` on NMP,
    ``<ws>/<fileset>/eval_data.jsonl`` on Helix)."""
    _check_file(files_url, limit)
    if workload_type not in WORKLOAD_TYPES:
        raise ValueError(f"unknown workload type {workload_type!r} (one of {', '.join(WORKLOAD_TYPES)})")
    if workload_type == "generic" and judge is None:
        raise ValueError("generic workloads are scored by an LLM judge: a judge is required")
    return EvaluationSpec.model_validate(
        {"workload_type": workload_type, "files_url": files_url, "limit": limit, "judge": judge}
    )


def evaluation_target(model_id: str, served_url: str | None = None, api_key: str | None = None) -> EvaluationTarget:
    """A model the platform serves, or (``served_url``) one already served elsewhere, reached directly
    with its own ``api_key`` (the platform calls it, so the job carries the key: log only :func:`redacted`)."""
    if not model_id or not isinstance(model_id, str):
        raise ValueError("evaluation target needs a model id")
    return EvaluationTarget(model=model_id, served_url=served_url.rstrip("/") if served_url else None, api_key=api_key)


def redacted(value: JsonValue) -> JsonValue:
    """A copy of a JSON payload with every ``api_key`` replaced, for logs and XCom."""
    if isinstance(value, dict):
        return {k: ("***" if k == "api_key" and v else redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ customization
def slug(text: str, limit: int = 40) -> str:
    """Lower-case ``[a-z0-9-]`` form of a name (no ``/``), for platform object names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def short_hash(*parts: str, n: int = 10) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:n]


def customization_job(
    workload_id: str,
    run_tag: str,
    nim: NimConfig,
    config_ref: str,
    train_dataset: str,
    namespace: str,
    training: TrainingConfig,
    lora: LoraConfig,
) -> CustomizationSpec:
    """A customization job. Names are unique per (workload, run, NIM) and contain no ``/``."""
    if "/" not in config_ref:
        raise ValueError(f"config_ref must be '<namespace>/<config name>', got {config_ref!r}")
    if not train_dataset:
        raise ValueError("customization needs the training dataset name")
    tag = short_hash(workload_id, run_tag, nim.model_name)
    model = slug(nim.model_name.split("/", 1)[1], 30)
    return CustomizationSpec(
        name=f"customization-{slug(workload_id, 30)}-{model}-{tag}",
        namespace=namespace,
        output_model=f"{namespace}/{model}-dfw-{tag}",
        config=config_ref,
        dataset=train_dataset,
        training=training,
        lora=lora if training.finetuning_type == "lora" else None,
        marks={marks.WORKLOAD: workload_id, marks.RUN: run_tag},
    )
