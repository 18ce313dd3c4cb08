"""Suite-wide: under ``pytest -n`` (``make test`` runs two workers), tests that share a stack or a session
fixture run on one worker, so nothing is started twice.

Each module of ``tests/integration/airflow`` starts its own Airflow stack: one unit of work per module.
Elsewhere the session fixtures (the emulator, the Mongo server, NeMo Helix) belong to a directory: one unit of
work per directory. (A scheduler of our own rather than ``--dist loadgroup``: with pytest 9 the group that
pytest-xdist 3.8 appends to a test's id is lost, and every test is scheduled alone.)
"""

from __future__ import annotations

import posixpath
from typing import Any

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest without pytest-xdist: one process, nothing to schedule
    LoadScopeScheduling = None

_STACK_PER_MODULE = "tests/integration/airflow/"


def work_unit(nodeid: str) -> str:
    """The module of a test that starts its own Airflow stack, else the test's directory."""
    path = nodeid.split("::", 1)[0]
    return path if path.startswith(_STACK_PER_MODULE) else posixpath.dirname(path)


if LoadScopeScheduling is not None:

    class _ByStack(LoadScopeScheduling):  # type: ignore[misc, valid-type]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
        return _ByStack(config, log)
