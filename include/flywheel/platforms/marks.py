"""Owner marks: what a run writes on the platform objects it creates, so that it (and only it) finds them
again, waits for them and deletes them. The only place marks are formatted, parsed and matched.

Two marks, as key/value pairs (NMP ``custom_fields``; on Helix, whose deployments and providers have no
custom fields, the same pairs are written into the description, see :func:`mark_text`):

- :class:`OwnerMark` on deployments (and Helix providers): ``flywheel_role`` (``candidate``, ``judge``,
  ``embedding``), ``flywheel_run`` = ``<dag_id>/<run_id>`` and, for candidates, ``flywheel_map_index``.
  The GPU lease counts the live deployments whose role is ``candidate`` (docs/contracts.md#the-gpu-lease).
- :class:`JobMark` on customization jobs: ``flywheel_workload`` and ``flywheel_run`` =
  ``<run_id>-<map index>`` (one per experiment: two NIMs of one run are two jobs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ROLE: Final = "flywheel_role"
RUN: Final = "flywheel_run"
MAP_INDEX: Final = "flywheel_map_index"
WORKLOAD: Final = "flywheel_workload"
# on a model the run promoted (approval → promote); a promoted model is never deleted
PROMOTED: Final = "flywheel_promoted"
# Helix jobs: the DAG's request id and the workload type ride in their custom fields
REQUEST_ID: Final = "flywheel_request_id"
WORKLOAD_TYPE: Final = "flywheel_workload_type"

CANDIDATE: Final = "candidate"
JUDGE: Final = "judge"
EMBEDDING: Final = "embedding"

# Helix: marks as a description (deployment configs and providers)
DESCRIPTION_PREFIX: Final = "flywheel-owned "
UNKNOWN_OWNER: Final = "?"


def promotion_mark(
    workload_id: str, by: str | None, at: str | None, dag_id: str, run_id: str
) -> Mapping[str, str | bool | None]:
    """The fields that mark a model entity as promoted: for which workload, by whom, when, by which run."""
    return {
        PROMOTED: True,
        f"{PROMOTED}_for": workload_id,
        f"{PROMOTED}_by": by,
        f"{PROMOTED}_at": at,
        f"{PROMOTED}_run": run_key(dag_id, run_id),
    }


def run_key(dag_id: str, run_id: str) -> str:
    """The ``flywheel_run`` of a deployment: which DAG run owns it."""
    return f"{dag_id}/{run_id}"


@dataclass(frozen=True)
class OwnerMark:
    """The mark of a deployment (or a Helix provider) a run created."""

    role: str
    run: str
    map_index: int | None = None

    @classmethod
    def candidate(cls, run: str, map_index: int | None = None) -> OwnerMark:
        return cls(CANDIDATE, run, map_index)

    def fields(self) -> dict[str, str]:
        out = {ROLE: self.role, RUN: self.run}
        if self.map_index is not None:
            out[MAP_INDEX] = str(self.map_index)
        return out

    @classmethod
    def read(cls, fields: Mapping[str, Any] | None) -> OwnerMark | None:
        """The mark in ``fields``, or None when the object carries no role mark (not made by a flywheel run)."""
        fields = fields or {}
        role = fields.get(ROLE)
        if not role:
            return None
        index = str(fields.get(MAP_INDEX, ""))
        map_index = int(index) if index.lstrip("-").isdigit() else None
        return cls(str(role), str(fields.get(RUN) or UNKNOWN_OWNER), map_index)

    def owns(self, fields: Mapping[str, Any] | None) -> bool:
        """``fields`` carry this mark's role and run (the map index is informative only)."""
        found = OwnerMark.read(fields)
        return found is not None and found.role == self.role and found.run == self.run


def role_of(fields: Mapping[str, Any] | None) -> str | None:
    found = OwnerMark.read(fields)
    return found.role if found else None


def owner_of(fields: Mapping[str, Any] | None) -> str:
    """The run that owns the object, or ``?`` (for messages)."""
    return str((fields or {}).get(RUN) or UNKNOWN_OWNER)


def is_candidate(fields: Mapping[str, Any] | None) -> bool:
    """A flywheel candidate deployment, whichever run made it: what holds the GPU lease."""
    return role_of(fields) == CANDIDATE


def is_own_candidate(fields: Mapping[str, Any] | None, run: str) -> bool:
    """A flywheel candidate created by ``run``: the only kind of deployment a run may delete."""
    return OwnerMark.candidate(run).owns(fields)


@dataclass(frozen=True)
class JobMark:
    """The mark of a customization job: its workload and ``<run_id>-<map index>``."""

    workload: str
    run_id: str
    map_index: int

    @property
    def run_tag(self) -> str:
        return _job_tag(self.run_id, self.map_index)

    def fields(self) -> dict[str, str]:
        return {WORKLOAD: self.workload, RUN: self.run_tag}

    @staticmethod
    def is_job_mark(fields: Mapping[str, Any] | None) -> bool:
        """Made by a flywheel run (any run, any workload)."""
        return WORKLOAD in (fields or {})

    @staticmethod
    def of_run(fields: Mapping[str, Any] | None, workload: str, run_id: str) -> bool:
        """A job of ``run_id`` of ``workload``, whichever experiment (map index) started it."""
        fields = fields or {}
        tag = str(fields.get(RUN) or "")
        return fields.get(WORKLOAD) == workload and tag.rsplit("-", 1)[0] == run_id

    @staticmethod
    def of_experiment(fields: Mapping[str, Any] | None, run_id: str, map_index: int) -> bool:
        """A job of this experiment (run and map index), whatever the workload."""
        return str((fields or {}).get(RUN) or "") == _job_tag(run_id, map_index)


def _job_tag(run_id: str, map_index: int) -> str:
    return f"{run_id}-{map_index}"


def mark_text(marks: Mapping[str, str]) -> str:
    """Marks as a description (Helix deployment configs and providers have no custom fields)."""
    return DESCRIPTION_PREFIX + json.dumps({str(k): str(v) for k, v in sorted(marks.items())}, separators=(",", ":"))


def read_marks(description: str | None) -> dict[str, str] | None:
    """The marks of a description written by :func:`mark_text`; None when it is not ours."""
    if not description or not description.startswith(DESCRIPTION_PREFIX):
        return None
    try:
        marks = json.loads(description[len(DESCRIPTION_PREFIX) :])
    except ValueError:
        return None
    return {str(k): str(v) for k, v in marks.items()} if isinstance(marks, dict) else None
