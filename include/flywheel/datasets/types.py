"""Workload type detection and per-type quality filters."""

from __future__ import annotations

from collections.abc import Sequence

from flywheel.datasets.keys import answer, classification_label, tool_label
from flywheel.records.shape import Record

TOOL_CALLING, CLASSIFICATION, GENERIC = "tool_calling", "classification", "generic"
MISSING_LABEL = "classification_label_missing"
TRUNCATED = "truncated_response"


def detect(records: Sequence[Record], explicit: str = "auto") -> str:
    """``tool_calling`` if tools are offered and responses call them; ``classification`` if most responses
    carry a bracketed label; else ``generic``. An explicit type overrides detection."""
    if explicit != "auto":
        return explicit
    if not records:
        return GENERIC
    calls = sum(1 for r in records if r["request"].get("tools") and answer(r).get("tool_calls"))
    if calls:
        return TOOL_CALLING
    labelled = sum(1 for r in records if classification_label(r))
    return CLASSIFICATION if labelled * 2 >= len(records) else GENERIC


def label_of(record: Record, workload_type: str) -> str | None:
    if workload_type == TOOL_CALLING:
        return tool_label(record)
    if workload_type == CLASSIFICATION:
        return classification_label(record)
    return None


def quality_problem(record: Record, workload_type: str) -> str | None:
    """A reason to leave a valid record out of this workload's datasets, or None."""
    if record["response"]["choices"][0].get("finish_reason") == "length":
        return TRUNCATED
    if workload_type == CLASSIFICATION and classification_label(record) is None:
        return MISSING_LABEL
    return None
