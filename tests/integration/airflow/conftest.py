"""Prints (and writes) the fault table of the scenarios this session ran; see leaks.py."""

from __future__ import annotations

from typing import Any

from .leaks import ROWS, markdown_table, table_path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    path = table_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    table = markdown_table(ROWS)
    path.write_text(table)
    terminalreporter.write_sep("=", f"fault scenarios: scenario → run state → outcome → cleanup s ({path})")
    terminalreporter.write(table)
