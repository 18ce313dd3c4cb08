"""A real OpenSearch-API server (osmem-server from PyPI) on a free loopback port, for this folder's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ManagedProcess, free_port, http_ok


@pytest.fixture(scope="session")
def opensearch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import osmem_server

    binary = Path(osmem_server.__file__).parent / "bin" / "osmem-server"
    port = free_port()
    with ManagedProcess(
        "osmem",
        [str(binary), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"],
        tmp_path_factory.mktemp("osmem"),
        ready=http_ok(f"http://127.0.0.1:{port}/"),
    ) as p:
        yield f"http://127.0.0.1:{port}"
    assert not p.alive()
