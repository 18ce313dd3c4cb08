"""Per-row evaluation results as the decision reads them: one :class:`EvalRow` per eval row and experiment.

The platform adapters return their own per-row shapes; the run maps them onto this model, which is also
one line of the rows artifact (JSON lines), so every paired, slice and judge figure can be recomputed from
that artifact alone. A metric a row was not scored on (or whose judge answer could not be parsed) is absent
from ``metrics``; values are finite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

UNLABELLED = "(no slice)"


class EvalRow(BaseModel):
    """One eval row of one experiment: its id (shared by every experiment scored on the same eval set), its
    slice (tool name(s) for tool calling, class for classification), each metric's value on this row and the
    judge's raw answer when a judge scored it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    row_id: Annotated[str, Field(min_length=1)]
    slice: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    judge_raw: str | None = None

    @property
    def slice_label(self) -> str:
        return self.slice if self.slice else UNLABELLED


def metric_values(rows: Iterable[EvalRow], metric: str) -> dict[str, float]:
    """``row_id -> value`` of ``metric`` over the rows that carry it. Raises ValueError on a repeated row id."""
    out: dict[str, float] = {}
    seen: set[str] = set()
    for row in rows:
        if row.row_id in seen:
            raise ValueError(f"row_id {row.row_id!r} appears twice in one experiment's rows")
        seen.add(row.row_id)
        if metric in row.metrics:
            out[row.row_id] = row.metrics[metric]
    return out


def dump_jsonl(rows: Iterable[EvalRow]) -> str:
    """The rows artifact's text: one JSON object per line, in the given order."""
    return "".join(row.model_dump_json() + "\n" for row in rows)


def load_jsonl(text: str) -> list[EvalRow]:
    """Rows from the artifact's text. Raises ValueError naming the line and the field of a bad row."""
    rows: list[EvalRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(EvalRow.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "row"
            raise ValueError(f"rows line {number}: {where}: {first['msg']}") from None
    return rows


def by_slice(rows: Sequence[EvalRow]) -> dict[str, list[EvalRow]]:
    """Rows grouped by slice label, labels sorted."""
    groups: dict[str, list[EvalRow]] = {}
    for row in rows:
        groups.setdefault(row.slice_label, []).append(row)
    return dict(sorted(groups.items()))
