"""Elasticsearch security in front of an OpenSearch-API server that has none (osmem-server), for the tests.

A real HTTP server on a free loopback port: a request whose ``Authorization`` is exactly ``Basic
base64(user:password)`` or ``ApiKey <key>`` is forwarded to the upstream server and its answer relayed; any
other gets Elasticsearch's 401 ``security_exception``. Every request's method, path and ``Authorization``
value is appended to a JSON-lines file, so a test can assert the exact header that reached the server.

Run as a script (``python es_auth_proxy.py PORT``) with ``ES_PROXY_UPSTREAM``, ``ES_PROXY_USER``,
``ES_PROXY_PASSWORD``, ``ES_PROXY_API_KEY`` and ``ES_PROXY_RECORD`` in the environment (never on the
command line, where ``ps`` shows them). :func:`es_auth_proxy` returns it as a managed process.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization"}


def expected_headers(user: str, password: str, api_key: str) -> set[str]:
    accepted = set()
    if user:
        accepted.add("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if api_key:
        accepted.add(f"ApiKey {api_key}")
    return accepted


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    accepted: ClassVar[set[str]] = set()
    record: Path | None = None
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:  # the record file is the log; nothing else is written
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization")
        if self.record is not None:
            with self.lock, self.record.open("a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "authorization": auth}) + "\n")
        if auth not in self.accepted:
            reason = "missing authentication credentials" if auth is None else "unable to authenticate user"
            payload = {"error": {"type": "security_exception", "reason": f"{reason} for REST request [{self.path}]"}}
            challenge = {"content-type": "application/json", "www-authenticate": 'Basic realm="security"'}
            self._answer(401, challenge, payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(
            self.upstream + self.path, data=body or None, headers=headers, method=self.command
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                status, out_headers, out = r.status, dict(r.headers.items()), r.read()
        except urllib.error.HTTPError as e:
            status, out_headers, out = e.code, dict(e.headers.items()), e.read()
        self._answer(status, out_headers, out)

    def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("content-length", str(len(data) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def main() -> None:
    env = os.environ
    Handler.upstream = env["ES_PROXY_UPSTREAM"].rstrip("/")
    Handler.accepted = expected_headers(
        env.get("ES_PROXY_USER", ""), env.get("ES_PROXY_PASSWORD", ""), env.get("ES_PROXY_API_KEY", "")
    )
    Handler.record = Path(env["ES_PROXY_RECORD"]) if env.get("ES_PROXY_RECORD") else None
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


def es_auth_proxy(
    upstream: str, log_dir: Path, user: str = "", password: str = "", api_key: str = "", port: int = 0
) -> tuple[Any, str, Path]:
    """(the proxy as a not yet started managed process, its URL, its record file); ``port`` 0: a free one."""
    from tests.support.processes import ManagedProcess, free_port, port_open

    port = port or free_port()
    record = log_dir / f"es-proxy-{port}.jsonl"
    env = {
        "ES_PROXY_UPSTREAM": upstream,
        "ES_PROXY_USER": user,
        "ES_PROXY_PASSWORD": password,
        "ES_PROXY_API_KEY": api_key,
        "ES_PROXY_RECORD": str(record),
    }
    proc = ManagedProcess(
        f"es-proxy-{port}", [sys.executable, __file__, str(port)], log_dir, env=env, ready=port_open(port)
    )
    return proc, f"http://127.0.0.1:{port}", record


def recorded(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


if __name__ == "__main__":
    main()
