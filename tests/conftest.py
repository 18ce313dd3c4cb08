"""Suite-wide: under ``pytest -n`` (``make test`` runs two workers), tests that share a stack or a session
fixture run on one worker, so nothing is started twice.

Each module of ``tests/integration/airflow`` starts its own Airflow stack: one group per module. Elsewhere the
session fixtures (the emulator, the Mongo server, NeMo Helix) belong to a directory: one group per directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_STACK_PER_MODULE = Path(__file__).parent / "integration" / "airflow"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        path = Path(item.path)
        group = path if path.parent == _STACK_PER_MODULE else path.parent
        item.add_marker(pytest.mark.xdist_group(str(group.relative_to(Path(__file__).parent))))
