"""Per-run settings: config defaults for a workload, overridden by the run's Params (docs/contracts.md#params).

``params_for`` builds the trigger form (JSON-schema validated by Airflow, so a bad value is a 400 at
trigger time). ``RunSettings.resolve`` (in ``flywheel.run.models``, re-exported here) merges a run's params
onto the config; it is small and JSON-able so tasks can pass it through XCom.
"""

from __future__ import annotations

from airflow.sdk import Param

from flywheel import params
from flywheel.config import FlywheelConfig, WorkloadConfig
from flywheel.run.models import NimPlan, RunSettings

__all__ = ["NimPlan", "RunSettings", "params_for"]


def params_for(cfg: FlywheelConfig, workload: WorkloadConfig) -> dict[str, Param]:
    """Airflow ``Param`` objects for the trigger form; defaults come from the config."""
    out = {}
    for name, spec in params.param_specs(cfg, workload).items():
        schema = dict(spec)
        out[name] = Param(schema.pop("default"), **schema)
    return out
