"""Helix writes use optimistic concurrency: a write racing another is refused with 409 "Concurrent
modification" (seen on a provider DELETE in tests/helix/test_helix_dag.py). The client re-reads and tries
again. Real Helix cannot be made to conflict on demand, so a small loopback HTTP server answers the first
write with Helix's 409."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flywheel.platforms.core.errors import NemoConflictError
from flywheel.platforms.helix import ops as helix_client
from flywheel.platforms.helix.client import HelixClient


class Helixish(BaseHTTPRequestHandler):
    conflicts = 1
    seen: list[str] = []  # noqa: RUF012
    exists = True

    def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        self._reply(200 if type(self).exists else 404, {"name": "p"})

    def do_DELETE(self) -> None:
        self.seen.append(f"DELETE {self.path}")
        if type(self).conflicts > 0:
            type(self).conflicts -= 1
            self._reply(409, {"detail": "Concurrent modification"})
            return
        type(self).exists = False
        self._reply(204)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(helix_client, "CONFLICT_PAUSE_S", 0.01)
    Helixish.seen, Helixish.exists = [], True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Helixish)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_conflicting_delete_is_reread_and_retried(server: str) -> None:
    Helixish.conflicts = 1
    with HelixClient(server, "ws") as c:
        assert c.run(c.ops.delete("/apis/thing/p")) is True
    assert Helixish.seen == ["DELETE /apis/thing/p", "GET /apis/thing/p", "DELETE /apis/thing/p"]


def test_a_delete_that_keeps_conflicting_fails_with_the_conflict(server: str) -> None:
    Helixish.conflicts = 99
    with HelixClient(server, "ws") as c, pytest.raises(NemoConflictError, match="Concurrent modification"):
        c.run(c.ops.delete("/apis/thing/p"))
    assert Helixish.seen.count("DELETE /apis/thing/p") == helix_client.CONFLICT_TRIES
