"""Configuration model for ``config/flywheel.yaml``.

One loader, :func:`load_config`, validates the whole file and reports *every* problem at once, each
prefixed with its YAML path (``nims[1].gpus: must be ≥ 1``). Endpoints and secrets are not part of
this file: they come from Airflow Connections (``flywheel_nemo``, ``flywheel_judge``, ``flywheel_es``,
``flywheel_mongo``) or the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flywheel.records.lines import DEFAULT_MAX_RECORD_BYTES

CONFIG_ENV = "FLYWHEEL_CONFIG"
WORKLOAD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"
PVC_SIZE_PATTERN = r"^\d+(Mi|Gi|Ti)$"
# Upper bounds shared by the config and the trigger Params (run_settings): one number, never two that disagree.
EVAL_SIZE_MAX = 100_000
RECORD_LIMIT_MAX = 1_000_000_000
SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds in [0, 2**32)
EPOCHS_MAX = 100
BATCH_SIZE_MAX = 4096
ADAPTER_DIM_MAX = 1024
P95_MS_MAX = 3_600_000.0  # an hour

WorkloadType = Literal["auto", "generic", "tool_calling", "classification"]
IclSelection = Literal["uniform_distribution", "semantic_similarity"]
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """The configuration has problems; ``problems`` holds one ``path: message`` line each."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- sections
class SplitConfig(_Model):
    """How records become eval / train / val sets."""

    eval_size: Annotated[int, Field(ge=1, le=EVAL_SIZE_MAX)] = 100
    val_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.1
    min_total_records: Annotated[int, Field(ge=1)] = 50
    limit: Annotated[int, Field(ge=1, le=RECORD_LIMIT_MAX)] | None = 1000
    random_seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 42
    min_train_records: Annotated[int, Field(ge=1)] = 10
    # a log line (one record) longer than this is not read into memory: it is skipped and counted as
    # invalid "record_too_large" (far beyond any model's context anyway)
    max_record_bytes: Annotated[int, Field(ge=1024, le=2**30)] = DEFAULT_MAX_RECORD_BYTES


class IclConfig(_Model):
    """In-context-learning examples injected into the ICL evaluation set."""

    enabled: bool = True
    max_context_length: Annotated[int, Field(ge=256)] | None = None
    reserved_tokens: Annotated[int, Field(ge=0)] = 2048
    min_examples: Annotated[int, Field(ge=0)] = 1
    max_examples: Annotated[int, Field(ge=1)] = 3
    selection: IclSelection = "uniform_distribution"
    relevance_ratio: Annotated[float, Field(ge=0, le=1)] = 0.7

    @model_validator(mode="after")
    def _min_le_max(self) -> IclConfig:
        if self.min_examples > self.max_examples:
            raise ValueError(f"min_examples ({self.min_examples}) must be ≤ max_examples ({self.max_examples})")
        return self


class LoraConfig(_Model):
    adapter_dim: Annotated[int, Field(ge=1, le=ADAPTER_DIM_MAX)] = 32
    adapter_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1


class TrainingConfig(_Model):
    training_type: Literal["sft"] = "sft"
    finetuning_type: Literal["lora", "all_weights"] = "lora"
    epochs: Annotated[int, Field(ge=1, le=EPOCHS_MAX)] = 2
    batch_size: Annotated[int, Field(ge=1, le=BATCH_SIZE_MAX)] = 16
    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 0.0001


class CustomizerConfig(_Model):
    """Customizer target and resources for one NIM (NeMo ``customization/configs``)."""

    target: str
    gpus: Annotated[int, Field(ge=1)] = 1
    num_nodes: Annotated[int, Field(ge=1)] = 1
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    data_parallel_size: Annotated[int, Field(ge=1)] = 1
    use_sequence_parallel: bool = False
    micro_batch_size: Annotated[int, Field(ge=1)] = 1
    training_precision: str = "bf16-mixed"
    max_seq_length: Annotated[int, Field(ge=128)] = 4096


class NimConfig(_Model):
    """A candidate NIM: deployed, evaluated (base / ICL / customized) and torn down per run; or, with
    ``served_url``, already served elsewhere (evaluated where it answers: no deployment, no GPU lease)."""

    model_name: Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
    image: str | None = None
    tag: str = "latest"
    gpus: Annotated[int, Field(ge=1)] = 1
    pvc_size: Annotated[str, Field(pattern=PVC_SIZE_PATTERN)] = "25Gi"
    context_length: Annotated[int, Field(ge=256)] = 8192
    customization_enabled: bool = False
    customizer: CustomizerConfig | None = None
    additional_envs: dict[str, str] = Field(default_factory=dict)
    gpu_type: str = "H100"  # priced by pricing.gpu_hour_usd
    # an OpenAI-compatible base URL (``<it>/v1/chat/completions``) that already answers for model_name
    served_url: Annotated[str, Field(pattern=r"^https?://\S*[^/\s]$")] | None = None
    # the Airflow connection whose password is served_url's API key (sent as ``Authorization: Bearer``)
    served_conn_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] | None = None

    @model_validator(mode="after")
    def _customizer_required(self) -> NimConfig:
        if self.customization_enabled and self.customizer is None:
            raise ValueError("customization_enabled needs a 'customizer' block (target, gpus, ...)")
        if self.served_url and self.customization_enabled:
            raise ValueError(
                f"{self.model_name}: an already served candidate (served_url) cannot be customized: "
                "there is no deployment of ours to load a LoRA adapter into"
            )
        if self.served_conn_id and not self.served_url:
            raise ValueError(f"{self.model_name}: served_conn_id names the key of a served_url, and there is none")
        return self

    @property
    def image_name(self) -> str:
        return self.image or f"nvcr.io/nim/{self.model_name}"

    @property
    def deployment_name(self) -> str:
        """DMS deployment name: the model name with ``/`` replaced, lower-case."""
        return _deployment_name(self.model_name)


class _SharedNimConfig(_Model):
    """A model outside the GPU lease that the flywheel either reaches at a URL or deploys itself (``local``)."""

    role: ClassVar[str]

    mode: str
    model_name: str
    url: str | None = None
    image: str | None = None
    tag: str = "latest"
    gpus: Annotated[int, Field(ge=1)] = 1
    pvc_size: Annotated[str, Field(pattern=PVC_SIZE_PATTERN)] = "25Gi"

    @model_validator(mode="after")
    def _local_needs_nim_name(self) -> _SharedNimConfig:
        # a deployed NIM's model name becomes its image path and deployment name
        if self.mode == "local" and not re.match(MODEL_NAME_PATTERN, self.model_name):
            raise ValueError(
                f"model_name {self.model_name!r} must look like 'org/name' when the {self.role} is "
                "deployed locally (mode: local)"
            )
        return self

    def as_nim(self, **extra: Any) -> NimConfig:
        """The local model as a NIM deployment."""
        return NimConfig(
            model_name=self.model_name, image=self.image, tag=self.tag, gpus=self.gpus, pvc_size=self.pvc_size, **extra
        )


class JudgeConfig(_SharedNimConfig):
    """LLM judge: ``remote`` (OpenAI-compatible URL; key from connection ``flywheel_judge``), ``local``
    (a shared NIM deployed through NeMo and never deleted by a run), or ``none``."""

    role: ClassVar[str] = "judge"

    mode: Literal["remote", "local", "none"] = "remote"
    model_name: str = "meta/llama-3.3-70b-instruct"
    gpus: Annotated[int, Field(ge=1)] = 4
    context_length: Annotated[int, Field(ge=256)] = 32768

    def as_nim(self, **extra: Any) -> NimConfig:
        return super().as_nim(context_length=self.context_length, **extra)


class EmbeddingConfig(_SharedNimConfig):
    """Embedding model for semantic-similarity ICL selection: ``local`` (a NIM the run deploys through
    NeMo before ``build_datasets`` and deletes after it when no other run uses it) or ``remote`` (a hosted
    OpenAI-compatible embeddings URL from connection ``flywheel_embedding`` or ``url``)."""

    role: ClassVar[str] = "embedding model"

    mode: Literal["remote", "local"] = "local"
    model_name: str = "nvidia/llama-3.2-nv-embedqa-1b-v2"
    batch_size: Annotated[int, Field(ge=1, le=512)] = 32


class PlatformConfig(_Model):
    """NeMo platform behaviour. URLs and keys come from the ``flywheel_nemo`` connection.

    ``kind`` picks the backend: ``nmp`` (NeMo Microservices 25.x) or ``helix`` (NeMo Helix v2, where
    ``namespace`` is the workspace)."""

    kind: Literal["nmp", "helix"] = "nmp"
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = "dfwbp"
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    max_retries: Annotated[int, Field(ge=0)] = 5
    poll_initial_s: Annotated[float, Field(gt=0)] = 5.0
    poll_max_s: Annotated[float, Field(gt=0)] = 60.0
    deployment_pending_timeout_s: Annotated[float, Field(gt=0)] = 1800.0
    deployment_timeout_s: Annotated[float, Field(gt=0)] = 3600.0
    model_sync_timeout_s: Annotated[float, Field(gt=0)] = 1800.0
    customization_timeout_s: Annotated[float, Field(gt=0)] = 6 * 3600.0
    evaluation_timeout_s: Annotated[float, Field(gt=0)] = 3 * 3600.0
    lease_poll_s: Annotated[float, Field(gt=0)] = 15.0
    # Airflow 3.3 fails a resumed task that is already queued or running when the scheduler handles the
    # executor's "success" of the execution that deferred (apache/airflow#72716). That event comes when the
    # worker's supervisor returns, which can be up to [workers] min_heartbeat_interval after the task
    # process exited. So no wait ends sooner than that interval plus this margin after deferring.
    min_defer_s: Annotated[float, Field(ge=0)] = 2.0
    # before deferring, a wait that is over within this many seconds continues in the task (a deferral
    # round trip costs several seconds; 0 = always defer)
    inline_wait_s: Annotated[float, Field(ge=0)] = 1.0
    lease_timeout_s: Annotated[float, Field(gt=0)] = 4 * 3600.0
    # the GPU lease's budget: live candidate deployments (nims[].gpus each) never use more GPUs than this,
    # across workloads and runs; also the size of the pool flywheel_gpu (docs/contracts.md#the-gpu-lease)
    gpu_budget: Annotated[int, Field(ge=1)] = 1
    # how long a task step keeps retrying (deferred, no worker slot held) while the platform cannot be
    # observed (unreachable, 429, 5xx) before it fails; waits on jobs use their own absolute deadlines
    outage_timeout_s: Annotated[float, Field(gt=0)] = 1800.0
    evaluation_limit: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _poll_bounds(self) -> PlatformConfig:
        if self.poll_initial_s > self.poll_max_s:
            raise ValueError(f"poll_initial_s ({self.poll_initial_s}) must be ≤ poll_max_s ({self.poll_max_s})")
        return self


class LogSourceConfig(_Model):
    """Where production logs are read from. ``elasticsearch`` uses connection ``flywheel_es``."""

    kind: Literal["elasticsearch", "file"] = "elasticsearch"
    index: str = "flywheel"
    path: str | None = None

    @model_validator(mode="after")
    def _file_needs_path(self) -> LogSourceConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("kind 'file' needs 'path' (a .jsonl, .jsonl.gz or .parquet file)")
        return self


class ArtifactsConfig(_Model):
    """Artifact storage shared by all workers (env ``FLYWHEEL_ARTIFACTS`` wins over ``base``)."""

    base: str | None = None
    retention_days: Annotated[int, Field(ge=1)] = 30
    # The extracted log snapshot holds the raw, unredacted records: 0 deletes it as soon as the datasets are
    # built (the default); N keeps it N days (local storage: pruned with the run folders' sweep).
    raw_snapshot_days: Annotated[int, Field(ge=0)] = 0


class AirflowConfig(_Model):
    """How the DAGs run in Airflow."""

    retries: Annotated[int, Field(ge=0)] = 2
    retry_delay_s: Annotated[float, Field(ge=0)] = 60.0
    start_date: str = "2025-01-01"
    tags: list[str] = Field(default_factory=list)
    # KubernetesExecutor: resources of the data tasks' pods (extract_records, build_datasets), e.g.
    # {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}; other executors ignore it.
    data_task_resources: dict[str, dict[str, str]] | None = None


class ResultsConfig(_Model):
    mongo_database: str = "flywheel"
    mongo_collection: str = "results"


# ---------------------------------------------------------------------------------------------- decision
# Illustrative on-demand cloud list prices (USD per GPU-hour); set your own in ``pricing.gpu_hour_usd``.
DEFAULT_GPU_HOUR_USD = {"H100": 3.0, "A100": 2.0, "L40S": 1.0}
ApprovalMode = Literal["required", "auto", "off"]


class PricingConfig(_Model):
    """GPU list prices (USD per GPU-hour) that turn measured throughput into cost per 1M output tokens."""

    gpu_hour_usd: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: dict(DEFAULT_GPU_HOUR_USD))


class ProductionPrice(_Model):
    """Either a token price (a hosted API) or GPUs (self-hosted: ``gpus``, ``gpu_type`` and the throughput
    they reach on this workload, ``output_tokens_per_s``)."""

    usd_per_1m_input_tokens: Annotated[float, Field(ge=0)] | None = None
    usd_per_1m_output_tokens: Annotated[float, Field(ge=0)] | None = None
    gpus: Annotated[int, Field(ge=1)] | None = None
    gpu_type: str | None = None
    output_tokens_per_s: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ProductionPrice:
        tokens = (self.usd_per_1m_input_tokens, self.usd_per_1m_output_tokens)
        gpu = (self.gpus, self.gpu_type, self.output_tokens_per_s)
        if all(v is not None for v in tokens) and all(v is None for v in gpu):
            return self
        if all(v is not None for v in gpu) and all(v is None for v in tokens):
            return self
        raise ValueError(
            "give either usd_per_1m_input_tokens + usd_per_1m_output_tokens, or gpus + gpu_type + output_tokens_per_s"
        )

    @property
    def per_token(self) -> bool:
        return self.usd_per_1m_output_tokens is not None


class ProductionConfig(_Model):
    """The production model the candidates would replace, and its price. With ``served_url`` it is also
    evaluated as a reference experiment on the same eval rows (no deployment, no GPU lease)."""

    model_name: str
    price: ProductionPrice
    # an OpenAI-compatible base URL (``<it>/v1/chat/completions``) where production answers for model_name
    served_url: Annotated[str, Field(pattern=r"^https?://\S*[^/\s]$")] | None = None
    # the Airflow connection whose password is served_url's API key (sent as ``Authorization: Bearer``)
    served_conn_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] | None = None

    @model_validator(mode="after")
    def _conn_needs_url(self) -> ProductionConfig:
        if self.served_conn_id and not self.served_url:
            raise ValueError("production.served_conn_id names the key of a served_url, and there is none")
        return self


class SelectionConfig(_Model):
    """The bar a candidate must meet and who decides. ``min_quality`` is the primary metric as a fraction of
    agreement with production (scores are against production's logged answers, so production = 1.0).
    ``margin``, ``max_slice_regression`` and ``min_judge_agreement`` govern the paired verdicts, the slice
    check and the judge check (docs/results.md#paired-comparisons-slices-and-judge-checks)."""

    min_quality: Annotated[float, Field(gt=0, le=1)] = 0.9
    max_p95_ms: Annotated[float, Field(gt=0, le=P95_MS_MAX)] | None = None
    approval: ApprovalMode = "required"
    approval_timeout: timedelta = timedelta(days=7)
    # non-inferiority margin on the primary metric: the recommended candidate is non-inferior to a reference
    # when the lower bound of the paired difference (candidate - reference) is above -margin
    margin: Annotated[float, Field(ge=0, le=1)] = 0.05
    # withhold a recommendation when the candidate is more than this below the reference on any slice
    max_slice_regression: Annotated[float, Field(gt=0, le=1)] | None = None
    # a judge must score at least this share of its probes (and agree this often with exact metrics)
    min_judge_agreement: Annotated[float, Field(gt=0, le=1)] = 0.8


class LatencyConfig(_Model):
    """Latency measurement of each deployed candidate (inside the GPU lease, before teardown)."""

    prompts: Annotated[int, Field(ge=1, le=10000)] = 100
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    max_seconds: Annotated[float, Field(gt=0)] = 120.0
    max_tokens: Annotated[int, Field(ge=1)] = 512


# --------------------------------------------------------------------------------------- PII (issue 14)
PiiKind = Literal["email", "phone", "card", "iban", "ssn", "ip", "secret", "person", "address", "dob", "user"]
BUILTIN_PII_KINDS: list[PiiKind] = [
    "email",
    "phone",
    "card",
    "iban",
    "ssn",
    "ip",
    "secret",
    "person",
    "address",
    "dob",
    "user",
]


class PiiConfig(_Model):
    """PII handling before any record is written to a dataset: ``redact`` replaces each detected value with
    a typed placeholder (``<EMAIL_1>``), ``drop_record`` leaves out records that contain any (counted as
    invalid ``contains_pii``), ``off`` writes text as logged. ``person`` and ``address`` are rule-based (an NER
    model can replace them: ``flywheel.privacy.register_detector``); ``user`` is the end-user id under a
    ``user`` key (OpenAI's ``request.user``). What each kind covers: docs/privacy.md."""

    mode: Literal["redact", "drop_record", "off"] = "redact"
    kinds: Annotated[list[PiiKind], Field(min_length=1)] = Field(default_factory=lambda: list(BUILTIN_PII_KINDS))
    phone_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "US"  # for numbers written without +country


class Defaults(_Model):
    schedule: str | None = "@weekly"
    split: SplitConfig = SplitConfig()
    icl: IclConfig = IclConfig()
    training: TrainingConfig = TrainingConfig()
    lora: LoraConfig = LoraConfig()
    selection: SelectionConfig = SelectionConfig()
    production: ProductionConfig | None = None
    pii: PiiConfig = PiiConfig()


class WorkloadOverrides(_Model):
    """Per-workload overrides: any field given here replaces the default for this workload."""

    split: dict[str, object] = Field(default_factory=dict)
    icl: dict[str, object] = Field(default_factory=dict)
    training: dict[str, object] = Field(default_factory=dict)
    lora: dict[str, object] = Field(default_factory=dict)
    selection: dict[str, object] = Field(default_factory=dict)
    production: dict[str, object] = Field(default_factory=dict)
    pii: dict[str, object] = Field(default_factory=dict)


class TriggerConfig(_Model):
    """Runs that start from data (docs/loop.md): the workload's log asset ``flywheel://logs/<workload_id>``
    gets an event when ``min_new_records`` arrived since the last event, or when the tool/class distribution
    of the new records drifted beyond ``max_label_drift`` (Jensen-Shannon divergence, base 2, in [0, 1]);
    never sooner than ``min_interval`` after the previous one. ``poll_s``: how often the watcher looks."""

    min_new_records: Annotated[int, Field(ge=1)] = 1000
    max_label_drift: Annotated[float, Field(gt=0, le=1)] | None = 0.2
    min_interval: timedelta = timedelta(hours=1)
    poll_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class WorkloadConfig(_Model):
    workload_id: Annotated[str, Field(pattern=WORKLOAD_ID_PATTERN)]
    client_id: str | None = None
    description: str = ""
    schedule: str | None = "default"
    workload_type: WorkloadType = "auto"
    nims: list[str] | None = None
    # the Airflow priority weight of this workload's GPU stage: when the GPU budget is short, the
    # candidates of the workload with the higher priority are deployed first
    priority: Annotated[int, Field(ge=1)] = 1
    overrides: WorkloadOverrides = WorkloadOverrides()
    # None: the workload's runs start only on its schedule (or by hand)
    trigger: TriggerConfig | None = None

    @property
    def dag_id(self) -> str:
        return f"flywheel_{self.workload_id}"


class ConfigMapTarget(_Model):
    """Where the routing document goes on Kubernetes (a ConfigMap the gateway mounts)."""

    namespace: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = "default"
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,252}$")] = "flywheel-routing"
    kubernetes_conn_id: str = "kubernetes_default"


class ServingConfig(_Model):
    """How an approved promotion reaches serving (docs/loop.md). ``target``: ``none`` (the rollout DAG
    records the promotion and stops), ``gateway`` (a LiteLLM proxy whose flywheel hook reads ``routing_file``;
    shadow and comparison requests go to ``gateway_url``) or ``configmap`` (the routing document written into a
    Kubernetes ConfigMap through the cncf-kubernetes provider). The gateway's key, if any, is the password of
    connection ``flywheel_gateway``."""

    target: Literal["none", "gateway", "configmap"] = "none"
    gateway_url: Annotated[str, Field(pattern=r"^https?://\S*[^/\s]$")] | None = None
    routing_file: str | None = None
    # where the gateway hook writes one line per served request (<workload_id>.serving.jsonl)
    serving_log_dir: str | None = None
    configmap: ConfigMapTarget | None = None
    # canary weights of the candidate, in percent, strictly increasing, ending at 100
    canary_weights: Annotated[list[Annotated[int, Field(ge=1, le=100)]], Field(min_length=1)] = Field(
        default_factory=lambda: [5, 25, 100]
    )
    shadow_requests: Annotated[int, Field(ge=1, le=10_000)] = 20
    step_requests: Annotated[int, Field(ge=1, le=1_000_000)] = 20
    step_timeout: timedelta = timedelta(minutes=10)
    # None: the workload's selection.min_quality
    min_agreement: Annotated[float, Field(gt=0, le=1)] | None = None
    max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    max_p95_ms: Annotated[float, Field(gt=0, le=P95_MS_MAX)] | None = None
    # the gate before 100 %: "workload" follows the workload's selection.approval ("required": a person
    # answers); "required" always asks; "off" never does (e.g. the demo)
    gate: Literal["workload", "required", "off"] = "workload"

    @model_validator(mode="after")
    def _target_needs(self) -> ServingConfig:
        if any(b <= a for a, b in zip(self.canary_weights, self.canary_weights[1:], strict=False)):
            raise ValueError(f"canary_weights {self.canary_weights} must be strictly increasing")
        if self.canary_weights[-1] != 100:
            raise ValueError(f"canary_weights must end at 100 (the full rollout), not {self.canary_weights[-1]}")
        if self.target == "gateway":
            missing = [k for k in ("gateway_url", "routing_file", "serving_log_dir") if not getattr(self, k)]
            if missing:
                raise ValueError(f"target 'gateway' needs {', '.join(missing)}")
        if self.target == "configmap" and (self.configmap is None or not self.gateway_url):
            raise ValueError("target 'configmap' needs a 'configmap' block and gateway_url")
        return self


class FlywheelConfig(_Model):
    platform: PlatformConfig = PlatformConfig()
    log_source: LogSourceConfig = LogSourceConfig()
    airflow: AirflowConfig = AirflowConfig()
    artifacts: ArtifactsConfig = ArtifactsConfig()
    results: ResultsConfig = ResultsConfig()
    judge: JudgeConfig = JudgeConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    pricing: PricingConfig = PricingConfig()
    latency: LatencyConfig = LatencyConfig()
    defaults: Defaults = Defaults()
    serving: ServingConfig = ServingConfig()
    workloads: list[WorkloadConfig]
    nims: Annotated[list[NimConfig], Field(min_length=1)]

    # ------------------------------------------------------------------ resolved per-workload settings
    def workload(self, workload_id: str) -> WorkloadConfig:
        for w in self.workloads:
            if w.workload_id == workload_id:
                return w
        raise KeyError(f"unknown workload '{workload_id}'")

    def nim(self, model_name: str) -> NimConfig:
        for n in self.nims:
            if n.model_name == model_name:
                return n
        raise KeyError(f"unknown NIM '{model_name}'")

    def nims_for(self, workload: WorkloadConfig) -> list[NimConfig]:
        if workload.nims is None:
            return list(self.nims)
        return [self.nim(name) for name in workload.nims]

    def schedule_for(self, workload: WorkloadConfig) -> str | None:
        return self.defaults.schedule if workload.schedule == "default" else workload.schedule

    def split_for(self, workload: WorkloadConfig) -> SplitConfig:
        return _merged(self.defaults.split, workload.overrides.split)

    def icl_for(self, workload: WorkloadConfig) -> IclConfig:
        return _merged(self.defaults.icl, workload.overrides.icl)

    def training_for(self, workload: WorkloadConfig) -> TrainingConfig:
        return _merged(self.defaults.training, workload.overrides.training)

    def lora_for(self, workload: WorkloadConfig) -> LoraConfig:
        return _merged(self.defaults.lora, workload.overrides.lora)

    def selection_for(self, workload: WorkloadConfig) -> SelectionConfig:
        return _merged(self.defaults.selection, workload.overrides.selection)

    def production_for(self, workload: WorkloadConfig) -> ProductionConfig | None:
        override = workload.overrides.production
        if not override:
            return self.defaults.production
        base = self.defaults.production.model_dump() if self.defaults.production else {}
        return ProductionConfig.model_validate({**base, **override})

    def pii_for(self, workload: WorkloadConfig) -> PiiConfig:
        return _merged(self.defaults.pii, workload.overrides.pii)


def _merged(base: M, override: Mapping[str, object]) -> M:
    return type(base).model_validate({**base.model_dump(), **override})


# ---------------------------------------------------------------------------------------------- loading
def default_config_path() -> Path:
    """``$FLYWHEEL_CONFIG``, else ``config/flywheel.yaml`` in the current directory, else the one at the
    project root (the checkout this package is installed from)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config") / "flywheel.yaml"
    if local.is_file():
        return local.absolute()
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "config" / "flywheel.yaml"
        if candidate.is_file():
            return candidate
    return local


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                line = first.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class names it
                continue
            if line != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} at line {key_node.start_mark.line + 1} (first at line {line})"
                )
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed file; raise :class:`ConfigError` with one line for an unreadable, non-UTF-8 or invalid file
    (a duplicate key is invalid: it names both lines)."""
    p = Path(path)
    source = str(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror or exc}"], source) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise ConfigError([f"not UTF-8 text: byte 0x{byte} at line {line}; save the file as UTF-8"], source) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if str(problem).startswith("duplicate key"):
            raise ConfigError([f"invalid YAML: {problem}"], source) from None
        raise ConfigError([f"invalid YAML{where}: {problem}"], source) from None


def load_config(path: str | os.PathLike[str] | None = None) -> FlywheelConfig:
    """Load and validate the configuration; raise :class:`ConfigError` listing every problem."""
    p = Path(path) if path is not None else default_config_path()
    return validate_config(read_yaml(p), str(p))


def validate_config(raw: Any, source: str = "config") -> FlywheelConfig:
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping with 'workloads' and 'nims'"], source)
    problems: list[str] = []
    cfg: FlywheelConfig | None = None
    try:
        cfg = FlywheelConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_format_errors(exc.errors(include_url=False)))
    problems.extend(_cross_checks(raw))
    if cfg is not None and not problems:
        from flywheel.params import param_problems  # it builds on this module

        problems.extend(param_problems(cfg))
    if problems:
        raise ConfigError(_unique(problems), source)
    assert cfg is not None
    return cfg


def _cross_checks(raw: dict[str, object]) -> list[str]:
    """Checks spanning entries. They run on the raw data so they report alongside field errors."""
    problems: list[str] = []
    workloads = got if isinstance(got := raw.get("workloads"), list) else []
    nims = got if isinstance(got := raw.get("nims"), list) else []
    problems += _duplicates(workloads, "workloads", "workload_id")
    problems += _duplicates(nims, "nims", "model_name")
    known = {n.get("model_name") for n in nims if isinstance(n, dict)}
    for i, w in enumerate(workloads):
        if not isinstance(w, dict) or not isinstance(w.get("nims"), list):
            continue
        first: dict[Any, int] = {}
        for j, name in enumerate(w["nims"]):
            if name not in known:
                problems.append(f"workloads[{i}].nims[{j}]: '{name}' is not a configured NIM")
            elif isinstance(name, str) and first.setdefault(name, j) != j:
                problems.append(
                    f"workloads[{i}].nims[{j}]: duplicate '{name}' (first at workloads[{i}].nims[{first[name]}])"
                )
    problems += _override_checks(raw, workloads)
    problems += _gpu_price_checks(raw, nims, workloads)
    problems += _shared_nim_collisions(raw, nims)
    problems += _gpu_budget_checks(raw, nims)
    return problems


def _gpu_budget_checks(raw: dict[str, object], nims: list[Any]) -> list[str]:
    """A candidate that needs more GPUs than the budget could never get the GPU lease."""
    platform = got if isinstance(got := raw.get("platform"), dict) else {}
    budget = platform.get("gpu_budget", PlatformConfig.model_fields["gpu_budget"].default)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        return []  # reported by the field's own validation
    return [
        f"nims[{i}].gpus: {n['gpus']} GPUs is more than platform.gpu_budget ({budget}); it could never be deployed"
        for i, n in enumerate(nims)
        if isinstance(n, dict)
        and not n.get("served_url")
        and isinstance(n.get("gpus"), int)
        and not isinstance(n.get("gpus"), bool)
        and n["gpus"] > budget
    ]


def _gpu_price_checks(raw: dict[str, object], nims: list[Any], workloads: list[Any]) -> list[str]:
    """Every ``gpu_type`` (candidates and a GPU-priced production model) needs a price."""
    pricing = got if isinstance(got := raw.get("pricing"), dict) else {}
    prices = pricing.get("gpu_hour_usd", DEFAULT_GPU_HOUR_USD)
    known = set(prices) if isinstance(prices, dict) else set()
    where: list[tuple[str, Any]] = []
    for i, n in enumerate(nims):
        if isinstance(n, dict):
            where.append((f"nims[{i}].gpu_type", n.get("gpu_type", NimConfig.model_fields["gpu_type"].default)))
    defaults = got if isinstance(got := raw.get("defaults"), dict) else {}
    places = [("defaults.production", defaults.get("production"))]
    places += [
        (f"workloads[{i}].overrides.production", (w.get("overrides") or {}).get("production"))
        for i, w in enumerate(workloads)
        if isinstance(w, dict) and isinstance(w.get("overrides"), dict)
    ]
    for path, prod in places:
        price = prod.get("price") if isinstance(prod, dict) else None
        if isinstance(price, dict) and price.get("gpu_type") is not None:
            where.append((f"{path}.price.gpu_type", price["gpu_type"]))
    return [
        f"{path}: {value!r} has no price in pricing.gpu_hour_usd ({', '.join(sorted(known)) or 'none'})"
        for path, value in where
        if isinstance(value, str) and value not in known
    ]


def _shared_nim_collisions(raw: dict[str, object], nims: list[Any]) -> list[str]:
    """A candidate NIM must not be the model of a locally deployed judge/embedder: they would share one
    deployment name, and the candidate's lease and teardown would act on the shared NIM."""
    problems = []
    for role in ("judge", "embedding"):
        section = raw.get(role)
        if not isinstance(section, dict) or section.get("mode") != "local" or not section.get("model_name"):
            continue
        shared = _deployment_name(str(section["model_name"]))
        for i, n in enumerate(nims):
            if isinstance(n, dict) and n.get("model_name") and _deployment_name(str(n["model_name"])) == shared:
                problems.append(
                    f"nims[{i}].model_name: '{n['model_name']}' is also the local {role} "
                    f"({role}.model_name); a candidate cannot share the {role}'s deployment: use a remote "
                    f"{role} or another model"
                )
    return problems


def _deployment_name(model_name: str) -> str:
    return model_name.replace("/", "-").lower()


def _override_checks(raw: dict[str, object], workloads: list[Any]) -> list[str]:
    """Validate each workload's overrides merged onto the defaults, so a bad override is caught at load."""
    problems: list[str] = []
    defaults = got if isinstance(got := raw.get("defaults"), dict) else {}
    sections: dict[str, type[BaseModel]] = {
        "split": SplitConfig,
        "icl": IclConfig,
        "training": TrainingConfig,
        "lora": LoraConfig,
        "selection": SelectionConfig,
        "production": ProductionConfig,
        "pii": PiiConfig,
    }
    for i, w in enumerate(workloads):
        overrides = w.get("overrides") if isinstance(w, dict) else None
        if not isinstance(overrides, dict):
            continue
        for name, model in sections.items():
            ov = overrides.get(name)
            if not isinstance(ov, dict) or not ov:
                continue
            base = got if isinstance(got := defaults.get(name), dict) else {}
            try:
                model.model_validate({**base, **ov})
            except ValidationError as exc:
                for e in exc.errors(include_url=False):
                    if e["loc"] and e["loc"][0] not in ov:
                        continue  # the problem is in the defaults and is reported there
                    e = {**e, "loc": ("workloads", i, "overrides", name, *e["loc"])}
                    problems.extend(_format_errors([e]))
        split = {**(defaults.get("split") or {}), **(overrides.get("split") or {})}
        icl = {**(defaults.get("icl") or {}), **(overrides.get("icl") or {})}
        problems += _icl_vs_split(split, icl, f"workloads[{i}].overrides")
    if isinstance(defaults, dict):
        problems += _icl_vs_split(defaults.get("split") or {}, defaults.get("icl") or {}, "defaults")
    return problems


def _icl_vs_split(split: Any, icl: Any, where: str) -> list[str]:
    eval_size = split.get("eval_size", SplitConfig().eval_size) if isinstance(split, dict) else None
    max_ex = icl.get("max_examples", IclConfig().max_examples) if isinstance(icl, dict) else None
    if isinstance(eval_size, int) and isinstance(max_ex, int) and eval_size >= 1 and max_ex > eval_size:
        return [f"{where}.icl.max_examples: must be ≤ split.eval_size ({eval_size})"]
    return []


def _duplicates(entries: list[Any], section: str, key: str) -> list[str]:
    seen: dict[Any, int] = {}
    problems = []
    for i, e in enumerate(entries):
        value = e.get(key) if isinstance(e, dict) else None
        if value is None:
            continue
        if value in seen:
            problems.append(f"{section}[{i}].{key}: duplicate '{value}' (first at {section}[{seen[value]}])")
        else:
            seen[value] = i
    return problems


def format_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format_errors(errors: Iterable[Any]) -> list[str]:
    lines = []
    for e in errors:
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        lines.append(f"{format_path(loc)}: {_message(e)}")
    return lines


def _message(e: Any) -> str:
    kind, ctx = e["type"], e.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be ≥ {_num(ctx['ge'])}"
    if kind == "greater_than":
        return f"must be > {_num(ctx['gt'])}"
    if kind == "less_than_equal":
        return f"must be ≤ {_num(ctx['le'])}"
    if kind == "less_than":
        return f"must be < {_num(ctx['lt'])}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"{e.get('input')!r} does not match {ctx.get('pattern')}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "int_parsing_size":
        return "is too large"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be an integer"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind in ("string_type",):
        return "must be a string"
    if kind in ("list_type",):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "value_error":
        return re.sub(r"^Value error, ", "", e["msg"])
    return e["msg"]


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
