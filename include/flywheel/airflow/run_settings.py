"""Per-run settings: config defaults for a workload, overridden by the run's Params (docs/contracts.md#params).

``params_for`` builds the trigger form (JSON-schema validated by Airflow, so a bad value is a 400 at
trigger time). ``RunSettings.resolve`` merges a run's params onto the config; it is small and
JSON-able so tasks can pass it through XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from flywheel import params
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


def params_for(cfg: FlywheelConfig, workload: WorkloadConfig) -> dict[str, Any]:
    """Airflow ``Param`` objects for the trigger form; defaults come from the config."""
    from airflow.sdk import Param

    out = {}
    for name, spec in params.param_specs(cfg, workload).items():
        schema = dict(spec)
        out[name] = Param(schema.pop("default"), **schema)
    return out


class NimPlan(BaseModel):
    """One mapped experiment: which NIM and which experiments it gets."""

    model_config = ConfigDict(frozen=True)
    model_name: str
    customize: bool
    icl: bool


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
    def resolve(cls, cfg: FlywheelConfig, workload: WorkloadConfig, params: dict[str, Any]) -> RunSettings:
        p = dict(params or {})
        split = cfg.split_for(workload).model_copy(
            update={k: p[k] for k in ("eval_size", "val_ratio", "limit", "random_seed") if k in p}
        )
        icl_update = {}
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
        chosen = list(p.get("nims") or configured)
        unknown = [n for n in chosen if n not in configured]
        if unknown:
            raise ValueError(f"params.nims: {unknown} not configured for workload '{workload.workload_id}'")
        # Re-validate merged sections so a bad combination fails here, with the field named.
        split = SplitConfig.model_validate(split.model_dump())
        return cls(
            workload_id=workload.workload_id,
            client_id=workload.client_id,
            workload_type=p.get("workload_type", workload.workload_type),
            nims=chosen,
            split=split,
            icl=IclConfig.model_validate({**cfg.icl_for(workload).model_dump(), **icl_update}),
            training=TrainingConfig.model_validate(training.model_dump()),
            lora=LoraConfig.model_validate(lora.model_dump()),
            customization_enabled=bool(p.get("customization_enabled", True)),
            selection=SelectionConfig.model_validate(
                {
                    **cfg.selection_for(workload).model_dump(),
                    **{k: p[k] for k in ("min_quality", "max_p95_ms") if k in p},
                }
            ),
            since=_when(p.get("since")),
            until=_when(p.get("until")),
        )

    def nim_configs(self, cfg: FlywheelConfig) -> list[NimConfig]:
        return [cfg.nim(name) for name in self.nims]

    def plans(self, cfg: FlywheelConfig, workload_type: str) -> list[NimPlan]:
        """Experiments per NIM: base always; ICL when enabled and supported; customized when allowed."""
        icl = self.icl.enabled and workload_type in ("generic", "tool_calling", "classification")
        return [
            NimPlan(model_name=n.model_name, icl=icl, customize=self.customization_enabled and n.customization_enabled)
            for n in self.nim_configs(cfg)
        ]


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
