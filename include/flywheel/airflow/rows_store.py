"""The rows artifacts: one experiment's per-row results as JSON lines in artifact storage,
``<base>/<dag_id>/<run_id>/rows/<nim>__<experiment>/rows.jsonl`` (``decision.rows.EvalRow`` per line).

XCom carries only the file's URI (a result entry's ``rows_url``); the report reads the files back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flywheel.airflow import artifacts
from flywheel.decision.rows import EvalRow, dump_jsonl, load_jsonl

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig

FOLDER, FILE = "rows", "rows.jsonl"


def rows_uri(cfg: FlywheelConfig, dag_id: str, run_id: str, nim: str, experiment: str) -> str:
    """The folder of one experiment's rows artifact."""
    return artifacts.run_uri(cfg, dag_id, run_id, FOLDER, artifacts.safe_segment(f"{nim}__{experiment}"))


def write_rows(cfg: FlywheelConfig, dag_id: str, run_id: str, nim: str, experiment: str, rows: list[EvalRow]) -> str:
    """Write the rows artifact (replacing an earlier try's) and return its file's URI (``rows_url``)."""
    target = rows_uri(cfg, dag_id, run_id, nim, experiment)
    local = artifacts.local_dir_for(target)
    (local / FILE).write_text(dump_jsonl(rows), encoding="utf-8")
    artifacts.publish(local, target)
    return f"{target}/{FILE}"


def read_rows(rows_url: str) -> list[EvalRow]:
    """The rows of one ``rows_url``. Raises ValueError naming the file when it is missing or malformed."""
    folder, _, name = rows_url.rpartition("/")
    path = artifacts.fetch(folder) / name
    if not path.is_file():
        raise ValueError(f"rows_url {rows_url}: no such file")
    try:
        return load_jsonl(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"rows_url {rows_url}: {exc}") from None
