"""The trigger Params of a workload's DAG as JSON schemas, and the checks Airflow applies to them, without
Airflow: ``flywheel check-config`` and the config loader refuse a default the Params would refuse, and the
plugin's guard answers a bad ``conf`` with a short message. ``flywheel.airflow.run_settings.params_for``
turns these schemas into Airflow ``Param`` objects (docs/contracts.md#params).
"""

from __future__ import annotations

from typing import Any

from flywheel.config import (
    ADAPTER_DIM_MAX,
    BATCH_SIZE_MAX,
    EPOCHS_MAX,
    EVAL_SIZE_MAX,
    P95_MS_MAX,
    RECORD_LIMIT_MAX,
    SEED_MAX,
    FlywheelConfig,
    WorkloadConfig,
)

WORKLOAD_TYPES = ["auto", "generic", "tool_calling", "classification"]
ICL_SELECTIONS = ["uniform_distribution", "semantic_similarity"]
# JSON-schema "format" is not enforced by Airflow's validator, so the shape is checked with a pattern.
ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
# Integer Params are validated as draft 4 (Airflow validates each Param with the draft its schema names):
# from draft 6 on, 10.0 and 1e30 count as integers, and a run would start with a float where an int belongs.
DRAFT4 = "http://json-schema.org/draft-04/schema#"
QUOTE_CHARS = 40  # an error quotes at most this much of a refused value


def _int(default: Any, low: int, high: int, nullable: bool = False, **kw: Any) -> dict[str, Any]:
    kind: Any = ["null", "integer"] if nullable else "integer"
    return {"default": default, "$schema": DRAFT4, "type": kind, "minimum": low, "maximum": high, **kw}


def param_specs(cfg: FlywheelConfig, workload: WorkloadConfig) -> dict[str, dict[str, Any]]:
    """Each trigger Param as ``{"default": value, **JSON schema}``: :func:`params_for` makes them Params,
    :func:`param_problems` checks the defaults the same way (so ``check-config`` and the DAG agree)."""
    split, icl = cfg.split_for(workload), cfg.icl_for(workload)
    training, lora = cfg.training_for(workload), cfg.lora_for(workload)
    selection = cfg.selection_for(workload)
    names = [n.model_name for n in cfg.nims_for(workload)]
    when = {"type": ["null", "string"], "format": "date-time", "pattern": ISO_DATETIME, "maxLength": 40}
    return {
        "nims": {
            "default": names,
            "type": "array",
            "title": "Candidate NIMs",
            "description": "NIMs to deploy and evaluate in this run (default: every NIM configured for the workload).",
            "items": {"type": "string", "enum": names},
            "examples": names,
            "minItems": 1,
            "uniqueItems": True,
        },
        "workload_type": {
            "default": workload.workload_type,
            "type": "string",
            "enum": WORKLOAD_TYPES,
            "title": "Workload type",
            "description": "auto detects from the logs; an explicit type overrides detection.",
        },
        "eval_size": _int(
            split.eval_size,
            1,
            EVAL_SIZE_MAX,
            title="Eval records",
            description="Records held out for evaluation (class-stratified).",
        ),
        "val_ratio": {
            "default": split.val_ratio,
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "title": "Validation ratio",
            "description": "Share of the remaining records used for validation.",
        },
        "limit": _int(
            split.limit,
            1,
            RECORD_LIMIT_MAX,
            nullable=True,
            title="Record limit",
            description="Newest usable records to use (empty: all).",
        ),
        "random_seed": _int(
            split.random_seed,
            0,
            SEED_MAX,
            title="Random seed",
            description="Same seed, same logs: byte-identical datasets.",
        ),
        "icl_enabled": {"default": icl.enabled, "type": "boolean", "title": "Run ICL evaluation"},
        "icl_selection": {
            "default": icl.selection,
            "type": "string",
            "enum": ICL_SELECTIONS,
            "title": "ICL example selection",
        },
        "customization_enabled": {
            "default": True,
            "type": "boolean",
            "title": "Run LoRA customization",
            "description": "Only NIMs with customization_enabled in config are customized.",
        },
        "epochs": _int(training.epochs, 1, EPOCHS_MAX, title="Epochs"),
        "learning_rate": {
            "default": training.learning_rate,
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "title": "Learning rate",
        },
        "batch_size": _int(training.batch_size, 1, BATCH_SIZE_MAX, title="Batch size"),
        "lora_adapter_dim": _int(lora.adapter_dim, 1, ADAPTER_DIM_MAX, title="LoRA adapter dim"),
        "min_quality": {
            "default": selection.min_quality,
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "title": "Quality bar",
            "description": "A candidate's primary metric must reach this (fraction of agreement with production).",
        },
        "max_p95_ms": {
            "default": selection.max_p95_ms,
            "type": ["null", "number"],
            "exclusiveMinimum": 0,
            "maximum": P95_MS_MAX,
            "title": "Latency cap (p95 ms)",
            "description": "Optional: a candidate's measured p95 latency must not exceed this.",
        },
        "margin": {
            "default": selection.margin,
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "title": "Non-inferiority margin",
            "description": "The recommended candidate is non-inferior to a reference when the lower bound of the "
            "paired difference is above minus this.",
        },
        "max_slice_regression": {
            "default": selection.max_slice_regression,
            "type": ["null", "number"],
            "exclusiveMinimum": 0,
            "maximum": 1,
            "title": "Max slice regression",
            "description": "Optional: withhold the recommendation when a slice falls more than this below its "
            "reference.",
        },
        "min_judge_agreement": {
            "default": selection.min_judge_agreement,
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "title": "Min judge agreement",
            "description": "The judge must pass this share of its probes (and agree this often with exact metrics).",
        },
        "since": {
            "default": None,
            **when,
            "title": "Logs since (UTC)",
            "description": "Only use logs at or after this time (ISO-8601).",
        },
        "until": {
            "default": None,
            **when,
            "title": "Logs until (UTC)",
            "description": "Only use logs before this time (ISO-8601).",
        },
    }


def quote(value: Any) -> str:
    """``repr(value)``, cut to :data:`QUOTE_CHARS` characters (an error never echoes a huge value)."""
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS else f"{text[:QUOTE_CHARS]}… ({len(text)} chars)"


def param_problem(name: str, value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` is refused by the Param ``name`` (validated as Airflow does), in one short line; or None.
    Exact for what the Param refuses: it is the same jsonschema validation, only its message is shortened."""
    from jsonschema import FormatChecker
    from jsonschema.validators import validator_for

    checker = validator_for(schema)(schema, format_checker=FormatChecker())
    errors = sorted(checker.iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return None
    e = errors[0]
    at = "".join(f"[{p}]" for p in e.path)
    rule = e.validator
    limit = e.validator_value if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") else None
    if rule == "type":
        wanted = e.validator_value if isinstance(e.validator_value, str) else " or ".join(e.validator_value)
        why = f"must be {wanted}"
    elif rule in ("enum",):
        why = f"must be one of {', '.join(map(str, e.validator_value))}"
    elif limit is not None:
        why = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[str(rule)]
        why = f"must be {why} {limit}"
    elif rule == "uniqueItems":
        why = "has repeated items"
    elif rule == "minItems":
        why = f"needs at least {e.validator_value} item(s)"
    elif rule == "maxLength":
        why = f"is longer than {e.validator_value} characters"
    elif rule == "pattern":
        why = "is not an ISO-8601 date-time" if schema.get("pattern") == ISO_DATETIME else "has the wrong shape"
    else:
        why = f"fails {rule}"
    return f"{name}{at}: {quote(e.instance)} {why}"


def conf_problem(conf: Any, schemas: dict[str, dict[str, Any]]) -> str | None:
    """The 400 message for a trigger's ``conf`` given the DAG's Param schemas (``{name: param.schema}``), or
    None when every value is accepted: Airflow's own message quotes a refused value whole (twice), this one at
    most :data:`QUOTE_CHARS` characters of it. For a guard in front of the trigger endpoint."""
    if not isinstance(conf, dict):
        return None
    for name in sorted(k for k in conf if k in schemas):
        problem = param_problem(name, conf[name], schemas[name])
        if problem:
            return f"Invalid input for param {problem}"
    return None


def param_problems(cfg: FlywheelConfig) -> list[str]:
    """Every configured value the DAG's Params would refuse as a default (the DAG would not import), per
    workload: ``workloads[i] (trigger param) eval_size: 10.5 must be integer``."""
    problems = []
    for i, w in enumerate(cfg.workloads):
        for name, spec in param_specs(cfg, w).items():
            schema = {k: v for k, v in spec.items() if k != "default"}
            problem = param_problem(name, spec["default"], schema)
            if problem:
                problems.append(f"workloads[{i}] (trigger param) {problem}")
    return problems
