"""A MongoDB-wire-protocol server for the tests (``nx-27017`` from PyPI, in memory, on a free loopback port)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support.processes import ManagedProcess, free_port, port_open


def mongo_server(log_dir: Path) -> tuple[ManagedProcess, dict[str, Any]]:
    """(the server, not yet started: use it as a context manager; its ``flywheel_mongo`` connection fields)."""
    port = free_port()
    server = ManagedProcess(
        "nx-27017",
        # its own pid file: by default nx-27017 refuses to start while another instance runs on the machine
        [
            str(Path(sys.executable).parent / "nx-27017"),
            *("--db", "memory", "--host", "127.0.0.1", "-p", str(port)),
            *("--pid-file", str(log_dir / f"nx-27017-{port}.pid")),
        ],
        log_dir,
        ready=port_open(port),
    )
    return server, {"conn_type": "mongo", "host": "127.0.0.1", "port": port, "schema": "flywheel"}
