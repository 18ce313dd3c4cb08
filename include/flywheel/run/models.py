"""What a run reads and writes, typed: the same JSON as XCom and the users see (docs/contracts.md#results).

Every model dumps to exactly the keys the contract names (``to_json``). Keys that only some documents carry
(an entry's decision fields, ``superseded_by``, a re-run's ``event_id``…) are listed in ``omit_unset``: they are
written once set, even to null, and left out otherwise. Documents read back from storage keep keys this code
does not know (``extra="allow"``), so a report written by another version reads and dumps unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer
from pydantic import JsonValue as FieldJson  # flywheel.jsontypes' alias is recursive in a way pydantic cannot build

from flywheel.config import (
    FlywheelConfig,
    IclConfig,
    LoraConfig,
    NimConfig,
    SelectionConfig,
    SplitConfig,
    TrainingConfig,
    WorkloadConfig,
)
from flywheel.jsontypes import JsonObject

EntryStatus = Literal["completed", "failed", "skipped"]
DecisionStatus = Literal["approved", "rejected", "expired", "auto", "skipped", "superseded"]


class Document(BaseModel):
    """A JSON document of the run: lossless when read back, exact keys when written."""

    model_config = ConfigDict(extra="allow")
    omit_unset: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        for key in self.omit_unset - self.model_fields_set:
            data.pop(key, None)
        return data

    def to_json(self) -> JsonObject:
        """The document as it goes to XCom, MongoDB and the REST answers."""
        return self.model_dump(mode="json")

    def stored_json(self) -> JsonObject:
        """The keys it was read with (a document read back from XCom or MongoDB answers as it was stored)."""
        return self.model_dump(mode="json", exclude_unset=True)


# ------------------------------------------------------------------------------------------- result entry
class Latency(Document):
    p50_ms: float | None = None
    p95_ms: float | None = None
    output_tokens_per_s: float | None = None
    requests: int | None = None
    errors: int | None = None


class MeasuredLatency(Latency):
    """One experiment's measurement as ``measure_latency`` returns it: the report's figures and the time spent."""

    elapsed_s: float | None = None


class LatencyRun(Document):
    """``measure_latency``'s return value for one NIM: ``latency`` per experiment it could measure."""

    nim: str | None = None
    latency: dict[str, MeasuredLatency] = Field(default_factory=dict)


class Cost(Document):
    per_1m_output_tokens_usd: float | None = None
    gpu_hours: float | None = None
    gpus: int | None = None
    gpu_type: str | None = None
    gpu_hour_usd: float | None = None
    omit_unset = frozenset({"gpus", "gpu_type", "gpu_hour_usd"})


class ResultEntry(Document):
    """One (NIM, experiment): what its task returns, and a row of the report's ``results``.

    ``latency``, ``cost`` and ``ci`` are the decision's (written by ``report``, absent from a task's own entry);
    ``rows_url`` is the experiment's rows artifact (JSON lines, written only when the evaluation's per-row
    results were read); ``per_row_scores`` feeds a bootstrap interval and is never written."""

    nim: str
    experiment: str  # base | icl | customized (a failed deployment's entry says "deploy")
    status: EntryStatus
    scores: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    job_id: str | None = None
    duration_s: float | None = None
    latency: Latency | None = None
    cost: Cost | None = None
    ci: tuple[float, float] | None = None
    rows_url: str | None = None
    per_row_scores: list[float] | None = Field(default=None, exclude=True)
    omit_unset = frozenset({"latency", "cost", "ci", "rows_url"})

    @field_validator("duration_s")
    @classmethod
    def _tenths(cls, value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    @property
    def key(self) -> tuple[str, str]:
        return self.nim, self.experiment

    @property
    def p95_ms(self) -> float | None:
        return self.latency.p95_ms if self.latency else None

    @property
    def per_1m_output_tokens_usd(self) -> float | None:
        return self.cost.per_1m_output_tokens_usd if self.cost else None


# --------------------------------------------------------------------------------------------- decision
class Bar(Document):
    """The quality bar (and optional latency cap) a candidate must meet."""

    min_quality: float
    max_p95_ms: float | None = None

    def describe(self, metric: str) -> str:
        cap = f" and p95 ≤ {self.max_p95_ms:g} ms" if self.max_p95_ms is not None else ""
        return f"{metric} ≥ {self.min_quality:g}{cap}"


class Production(Document):
    model_name: str
    per_1m_output_tokens_usd: float
    rows_url: str | None = None  # its rows artifact, when it was evaluated as a reference experiment
    omit_unset = frozenset({"rows_url"})


class ComparisonRow(Document):
    """One scored candidate of the report's ``comparison``."""

    nim: str
    experiment: str
    score: float
    ci: tuple[float, float] | None = None
    p95_ms: float | None = None
    per_1m_output_tokens_usd: float | None = None
    meets_bar: bool
    why_not: str | None = None


class Recommendation(Document):
    nim: str
    experiment: str
    primary_metric: str
    score: float
    ci: tuple[float, float] | None = None
    p95_ms: float | None = None
    per_1m_output_tokens_usd: float | None = None
    savings_per_month_usd: float | None = None
    min_quality: float
    max_p95_ms: float | None = None
    reason: str


class RecommendationNote(Document):
    reason: str
    closest: ComparisonRow | None = None


@dataclass(frozen=True)
class TokenVolume:
    """The workload's token volume in the log window, scaled to a 30-day month (the report's ``volume``)."""

    records: int
    input_tokens: int
    output_tokens: int
    window_days: float
    output_tokens_per_month: float
    input_tokens_per_month: float


class DecisionFields(BaseModel):
    """What the decision adds to the report (``bar``, ``production``, ``volume``, the recommendation)."""

    bar: Bar
    production: Production | None = None
    volume: TokenVolume | None = None
    recommendation: Recommendation | None = None
    recommendation_note: RecommendationNote | None = None
    comparison: list[ComparisonRow] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------------- report
class DatasetRef(Document):
    name: str
    records: int


class Best(Document):
    nim: str
    experiment: str
    metric: str
    score: float


class Pii(Document):
    counts: dict[str, int]
    records: int


class Report(Document):
    """Task ``report``'s return value. Every key is optional when read: reports written before the decision
    existed have no ``bar``, ``recommendation``…; ``"recommendation" in model_fields_set`` tells "no decision"
    from "nothing meets the bar"."""

    workload_id: str | None = None
    client_id: str | None = None
    workload_type: str | None = None
    datasets: dict[str, DatasetRef] = Field(default_factory=dict)
    results: list[ResultEntry] = Field(default_factory=list)
    best: Best | None = None
    bar: Bar | None = None
    production: Production | None = None
    volume: TokenVolume | None = None
    recommendation: Recommendation | None = None
    recommendation_note: RecommendationNote | None = None
    comparison: list[ComparisonRow] = Field(default_factory=list)
    pii: Pii | None = None
    # from the per-row results (flywheel.decision.trust.assess, docs/results.md): written once assessed; the
    # shapes are the decision's PairedComparison, SliceScore and JudgeCheck (this module sits below it)
    paired: list[dict[str, FieldJson]] | None = None
    slices: list[dict[str, FieldJson]] | None = None
    judge: dict[str, FieldJson] | None = None
    # why the run started (docs/loop.md): the log watcher's figures, else {"started_by": <run type>}
    trigger_reason: dict[str, FieldJson] | None = None
    omit_unset = frozenset({"paired", "slices", "judge", "trigger_reason"})

    def entry(self, nim: str | None, experiment: str | None) -> ResultEntry | None:
        return next((r for r in self.results if r.key == (nim, experiment)), None)


# ------------------------------------------------------------------------------------- approval, audit
class Decision(Document):
    """``approve_promotion``'s XCom ``decision``."""

    status: DecisionStatus
    nim: str | None = None
    experiment: str | None = None
    by: str | None = None
    at: str | None = None
    comment: str | None = None
    superseded_by: str | None = None
    omit_unset = frozenset({"superseded_by"})


class RunRef(Document):
    """A run of a workload, ordered by when it was due (the approval's "newest report")."""

    dag_id: str
    run_id: str
    run_after: str = ""

    def newer_than(self, other: RunRef) -> bool:
        return self.run_id != other.run_id and (self.run_after, self.run_id) > (other.run_after, other.run_id)


class DatasetArtifact(Document):
    kind: str
    path: str
    sha256: str


class JobRef(Document):
    nim: str
    experiment: str
    job_id: str


class PlatformMark(Document):
    model_id: str
    marked: bool
    why: str | None = None
    custom_fields: dict[str, FieldJson] | None = None
    omit_unset = frozenset({"why", "custom_fields"})


class Rerun(Document):
    try_number: int | None = None
    at: str
    event_id: int | str | None = None
    omit_unset = frozenset({"event_id"})


class Audit(Document):
    """The promotion audit record (XCom ``promote``/``audit``; MongoDB ``promotions`` adds ``reruns``)."""

    workload_id: str
    dag_id: str
    run_id: str
    decision: Decision
    model_id: str | None = None
    scores: dict[str, float] | None = None
    latency: Latency | None = None
    cost: Cost | None = None
    recommendation: Recommendation | None = None
    datasets: list[DatasetArtifact] = Field(default_factory=list)
    job_ids: list[JobRef] = Field(default_factory=list)
    customization_job_id: str | None = None
    settings_sha256: str | None = None
    by: str | None = None
    at: str | None = None
    comment: str | None = None
    platform_mark: PlatformMark | None = None
    reruns: list[Rerun] = Field(default_factory=list)
    omit_unset = frozenset({"reruns"})


class RerunAudit(Document):
    """XCom ``audit`` of a ``promote`` that re-ran after its event was emitted."""

    dag_id: str
    run_id: str
    decision: Decision
    rerun: Rerun


# ------------------------------------------------------------------------------ settings, plan, data
class NimPlan(BaseModel):
    """One mapped experiment: which NIM and which experiments it gets (``select_nims`` returns a list)."""

    model_config = ConfigDict(frozen=True)
    model_name: str
    customize: bool
    icl: bool


ICL_WORKLOAD_TYPES = ("generic", "tool_calling", "classification")
SELECTION_PARAMS = ("min_quality", "max_p95_ms", "margin", "max_slice_regression", "min_judge_agreement")


class RunSettings(BaseModel):
    """The effective settings of one run (config + params). Small and JSON-able."""

    model_config = ConfigDict(frozen=True)
    workload_id: str
    client_id: str | None
    workload_type: str
    nims: list[str]
    split: SplitConfig
    icl: IclConfig
    training: TrainingConfig
    lora: LoraConfig
    customization_enabled: bool
    selection: SelectionConfig = SelectionConfig()
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def resolve(cls, cfg: FlywheelConfig, workload: WorkloadConfig, params: dict[str, object]) -> RunSettings:
        """The config's settings for ``workload`` with the run's Params on top (docs/contracts.md#params)."""
        p = dict(params or {})
        split = cfg.split_for(workload).model_copy(
            update={k: p[k] for k in ("eval_size", "val_ratio", "limit", "random_seed") if k in p}
        )
        icl_update: dict[str, object] = {}
        if "icl_enabled" in p:
            icl_update["enabled"] = bool(p["icl_enabled"])
        if "icl_selection" in p:
            icl_update["selection"] = p["icl_selection"]
        training = cfg.training_for(workload).model_copy(
            update={k: p[k] for k in ("epochs", "learning_rate", "batch_size") if k in p}
        )
        lora = cfg.lora_for(workload)
        if "lora_adapter_dim" in p:
            lora = lora.model_copy(update={"adapter_dim": p["lora_adapter_dim"]})
        configured = [n.model_name for n in cfg.nims_for(workload)]
        chosen = _names(p.get("nims")) or configured
        unknown = [n for n in chosen if n not in configured]
        if unknown:
            raise ValueError(f"params.nims: {unknown} not configured for workload '{workload.workload_id}'")
        # Re-validate merged sections so a bad combination fails here, with the field named.
        split = SplitConfig.model_validate(split.model_dump())
        workload_type = p.get("workload_type", workload.workload_type)
        return cls(
            workload_id=workload.workload_id,
            client_id=workload.client_id,
            workload_type=str(workload_type),
            nims=chosen,
            split=split,
            icl=IclConfig.model_validate({**cfg.icl_for(workload).model_dump(), **icl_update}),
            training=TrainingConfig.model_validate(training.model_dump()),
            lora=LoraConfig.model_validate(lora.model_dump()),
            customization_enabled=bool(p.get("customization_enabled", True)),
            selection=SelectionConfig.model_validate(
                {
                    **cfg.selection_for(workload).model_dump(),
                    **{k: p[k] for k in SELECTION_PARAMS if k in p},
                }
            ),
            since=_when(p.get("since")),
            until=_when(p.get("until")),
        )

    def nim_configs(self, cfg: FlywheelConfig) -> list[NimConfig]:
        return [cfg.nim(name) for name in self.nims]

    def plans(self, cfg: FlywheelConfig, workload_type: str) -> list[NimPlan]:
        """Experiments per NIM: base always; ICL when enabled and supported; customized when allowed."""
        icl = self.icl.enabled and workload_type in ICL_WORKLOAD_TYPES
        return [
            NimPlan(model_name=n.model_name, icl=icl, customize=self.customization_enabled and n.customization_enabled)
            for n in self.nim_configs(cfg)
        ]


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _when(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Extracted(BaseModel):
    """``extract_records``' return value: the run's settings, its log snapshot and what the export read."""

    settings: RunSettings
    snapshot: str
    extract: dict[str, FieldJson] = Field(default_factory=dict)


class BuildStats(Document):
    """What the build counted (``flywheel.datasets``' stats, the part the report and the logs use)."""

    read: int | None = None
    used: int | None = None
    invalid: dict[str, int] | None = None  # records left out, by reason
    duplicates: int | None = None
    filtered: int | None = None
    pii: dict[str, int] | None = None  # None: PII handling was off
    pii_records: int | None = None


class Built(Document):
    """``build_datasets``' return value: where the datasets are, their line counts and the log's token volume."""

    workload_type: str
    uri: str
    files: dict[str, str]
    counts: dict[str, int]
    stats: BuildStats = Field(default_factory=BuildStats)
    volume: TokenVolume | None = None


class UploadedDataset(Document):
    """One dataset of ``upload_datasets``' return value (``{kind: UploadedDataset}``)."""

    name: str
    files_url: str
    records: int
    val_records: int | None = None
    omit_unset = frozenset({"val_records"})


class CustomizeResult(Document):
    """``customize``'s return value."""

    nim: str
    job_id: str | None = None
    output_model: str | None = None
    duration_s: float | None = None
