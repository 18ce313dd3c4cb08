"""The routing document: per workload, which model serves it and how much traffic the candidate gets.

One JSON document, ``{"routes": {<workload_id>: Route}}``. The gateway hook (``litellm_hook.py``) reads it
from a file; on Kubernetes it is the ``routing.json`` key of a ConfigMap the gateway mounts. Writers replace
the file atomically, so a reader sees the old or the new document, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Step = Literal["incumbent", "shadow", "canary", "full", "rolled_back"]
ROUTE_PREFIX = "flywheel/"  # the model name an application calls: flywheel/<workload_id>


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workload_id: str
    incumbent: str
    candidate: str | None = None
    candidate_weight: int = Field(default=0, ge=0, le=100)
    step: Step = "incumbent"
    rollout: str | None = None  # the rollout's id (dag_id/run_id) that wrote it

    @property
    def primary(self) -> str:
        """The model that serves the workload once this route is settled: the candidate after a full rollout."""
        if self.candidate and self.step == "full" and self.candidate_weight == 100:
            return self.candidate
        return self.incumbent

    def served_model(self, draw: float) -> str:
        """The model that answers a request whose uniform draw in [0, 1) is ``draw``."""
        if self.candidate and draw * 100 < self.candidate_weight:
            return self.candidate
        return self.incumbent


def rollback_model(current: Route | None, candidate: str, production: str | None) -> str | None:
    """The incumbent of a rollout of ``candidate``: the model a rollback returns to.

    What serves the workload now; production's model before the flywheel ever routed it (None without one).
    When ``candidate`` already serves after a full rollout, its promotion again (an event a person re-emits)
    re-checks it live against the model it replaced, so a rollback returns to that one."""
    if current is None:
        return production
    if current.primary == candidate and current.incumbent != candidate:
        return current.incumbent
    return current.primary


class RoutingDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: dict[str, Route] = Field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1)


def alias(workload_id: str) -> str:
    return f"{ROUTE_PREFIX}{workload_id}"


def read_routing(path: str | os.PathLike[str]) -> RoutingDoc:
    p = Path(path)
    if not p.is_file():
        return RoutingDoc()
    return RoutingDoc.model_validate_json(p.read_text())


def write_routing(path: str | os.PathLike[str], doc: RoutingDoc) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(doc.to_json())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
