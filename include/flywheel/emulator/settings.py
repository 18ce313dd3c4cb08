"""Emulator settings: durations, GPU capacity, NIM behaviour and the initial fault list.

Loaded from a YAML or JSON file (``--config FILE`` or env ``FLYWHEEL_EMULATOR_CONFIG``); every key is
optional. Unknown keys are rejected so that a typo does not silently keep a default. The GPU count can
also come from env ``EMULATOR_GPUS``: ``--gpus`` wins over it, and it wins over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flywheel.emulator.faults import Fault

CONFIG_ENV = "FLYWHEEL_EMULATOR_CONFIG"
GPUS_ENV = "EMULATOR_GPUS"


class TargetSpec(BaseModel):
    """A customization target the Customizer offers (``namespace/name`` like ``meta/llama-3.2-1b-instruct@2.0``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    base_model: str
    num_parameters: int = 1_000_000_000


DEFAULT_TARGETS = [
    TargetSpec(
        name="meta/llama-3.2-1b-instruct@2.0", base_model="meta/llama-3.2-1b-instruct", num_parameters=1_000_000_000
    ),
    TargetSpec(
        name="meta/llama-3.2-3b-instruct@2.0", base_model="meta/llama-3.2-3b-instruct", num_parameters=3_000_000_000
    ),
    TargetSpec(
        name="meta/llama-3.1-8b-instruct@2.0", base_model="meta/llama-3.1-8b-instruct", num_parameters=8_000_000_000
    ),
    TargetSpec(
        name="nvidia/nemotron-nano-llama-3.1-8b@1.0",
        base_model="nvidia/nemotron-nano-llama-3.1-8b",
        num_parameters=8_000_000_000,
    ),
]

Seconds = Annotated[float, Field(ge=0)]


class LatencySettings(BaseModel):
    """Chat-completion latency of candidate models (judges answer at once). Deterministic: ``scale(model) ×
    (base_ms + ms_per_prompt_token × prompt + ms_per_output_token × output) × (1 + concurrency_slowdown ×
    (requests in flight − 1))``; ``scale`` is configured per base model, else ``size_in_b ** 0.75``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    base_ms: Annotated[float, Field(ge=0)] = 20.0
    ms_per_prompt_token: Annotated[float, Field(ge=0)] = 0.02
    ms_per_output_token: Annotated[float, Field(ge=0)] = 0.4
    concurrency_slowdown: Annotated[float, Field(ge=0)] = 0.1
    scale: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpus: Annotated[int, Field(ge=0)] = 2
    # lifecycles (seconds)
    deployment_ready_s: Seconds = 2.0
    job_created_s: Seconds = 0.2
    customization_s: Seconds = 5.0
    customization_uses_gpus: bool = True
    evaluation_s: Seconds = 2.0
    model_sync_s: Seconds = 0.5
    tick_s: Annotated[float, Field(gt=0)] = 0.2
    # NIM behaviour
    judge_models: list[str] = Field(default_factory=lambda: ["meta/llama-3.3-70b-instruct"])
    embedding_models: list[str] = Field(default_factory=lambda: ["nvidia/llama-3.2-nv-embedqa-1b-v2"])
    # true: judge and embedding models are hosted (served without a deployment, like a remote API);
    # false: they are served only once deployed through DMS (a local judge / embedding NIM)
    hosted_shared_models: bool = True
    # models answered without a deployment and outside the GPU pool, like production endpoints on another
    # cluster (the demo's incumbent and serving copies); an adapter on one is served once synced
    hosted_models: list[str] = Field(default_factory=list)
    # when set, judge models answer chat only with ``Authorization: Bearer <judge_api_key>`` (else 401),
    # like a hosted judge API; other models never ask for a key
    judge_api_key: str | None = None
    embedding_dims: Annotated[int, Field(ge=1, le=16384)] = 2048
    icl_marker: str = "Here are examples of how to respond:"
    seed: int = 0
    # Data Store: files at or above this size are answered "lfs" in preupload (classic LFS batch protocol)
    lfs_threshold_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    targets: list[TargetSpec] = Field(default_factory=lambda: list(DEFAULT_TARGETS))
    latency: LatencySettings = Field(default_factory=LatencySettings)
    faults: list[Fault] = Field(default_factory=list)


class SettingsError(ValueError):
    """The emulator config file is unreadable or invalid (message is one line per problem)."""


def load_settings(path: str | Path | None = None, **overrides: object) -> EmulatorSettings:
    """Read settings from ``path`` (or ``$FLYWHEEL_EMULATOR_CONFIG``), then ``$EMULATOR_GPUS``; ``overrides``
    win (None is ignored)."""
    import yaml

    data: dict[str, object] = {}
    source = path or os.environ.get(CONFIG_ENV)
    if source:
        try:
            loaded = yaml.safe_load(Path(source).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{source}: cannot read emulator config: {exc}".replace("\n", " ")) from exc
        if not isinstance(loaded, dict):
            raise SettingsError(f"{source}: the emulator config must be a mapping")
        data.update(loaded)
    gpus = os.environ.get(GPUS_ENV, "").strip()
    if gpus:
        if not gpus.isdigit():
            raise SettingsError(f"{GPUS_ENV}: must be a whole number of GPUs (0 or more), got {gpus!r}")
        data["gpus"] = int(gpus)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return EmulatorSettings.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SettingsError(f"{source or 'emulator settings'}: " + "; ".join(problems)) from exc
