"""Credentials of the log store: a password full of URL-special characters and an API key reach a secured
server exactly, on both paths (``flywheel load`` and the Airflow connection through the elasticsearch
provider's hook), and no error line ever shows them.

osmem-server has no security, so the secured server is ``es_auth_proxy``: a real HTTP server in front of it
that checks ``Authorization`` exactly as Elasticsearch with security on does (401 ``security_exception``
otherwise) and records every header that reached it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from flywheel.records.sources import ElasticsearchSource, es_client
from tests.unit.datasets.factory import write_logs

from .es_auth_proxy import es_auth_proxy, recorded

pytestmark = pytest.mark.integration

USER = "elastic"
# every character that breaks a hand-built URL: @ # / : ? & = + % and a space
PASSWORD = f"p@ss#w/rd:1?&=+%2F {uuid.uuid4().hex[:8]}"
API_KEY_ID, API_KEY_SECRET = "kid-" + uuid.uuid4().hex[:6], "ks-" + uuid.uuid4().hex
API_KEY = base64.b64encode(f"{API_KEY_ID}:{API_KEY_SECRET}".encode()).decode()
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def forms(secret: str) -> list[str]:
    """Every way a secret could leak into text."""
    return [secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(f"{USER}:{secret}".encode()).decode()]


def leaked(text: str) -> list[str]:
    return [f for s in (PASSWORD, API_KEY, API_KEY_SECRET) for f in forms(s) if f in text]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def secured(opensearch: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, record file) of the secured server: Basic ``elastic``/PASSWORD or ``ApiKey`` API_KEY."""
    proc, url, record = es_auth_proxy(
        opensearch, tmp_path_factory.mktemp("es-proxy"), user=USER, password=PASSWORD, api_key=API_KEY
    )
    with proc:
        yield url, record
    assert not proc.alive()


@pytest.fixture(scope="module")
def loaded(secured: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> int:
    """``flywheel load`` with the password from the environment: the number of records loaded."""
    url, record = secured
    logs = tmp_path_factory.mktemp("logs") / "logs.jsonl"
    write_logs(logs, 120, seed=5)
    before = len(recorded(record))
    out = cli("load", "--input", str(logs), "--es-url", url, "--es-user", USER, "--index", "secured",
              env={"ES_PASSWORD": PASSWORD})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert not leaked(out.stdout + out.stderr)
    sent = recorded(record)[before:]
    assert sent and {r["authorization"] for r in sent} == {BASIC}, sent[:3]  # the exact header, every request
    return int(out.stdout.split()[1].rstrip(","))


def test_cli_load_sends_the_exact_basic_header_and_reads_back(loaded: int, secured: tuple[str, Path]) -> None:
    url, _ = secured
    assert loaded == 120
    client = es_client(url, basic_auth=(USER, PASSWORD))
    assert len(list(ElasticsearchSource(client, "secured").iter_records("customer_service"))) > 0


def test_cli_load_with_an_api_key_from_the_environment(loaded: int, secured: tuple[str, Path], tmp_path: Path) -> None:
    url, record = secured
    logs = tmp_path / "logs.jsonl"
    write_logs(logs, 120, seed=5)  # the same records: all already present
    before = len(recorded(record))
    out = cli("load", "--input", str(logs), "--es-url", url, "--index", "secured", env={"ES_API_KEY": API_KEY})
    assert out.returncode == 0 and out.stdout.startswith(f"loaded 0, skipped {loaded}"), out.stdout + out.stderr
    assert {r["authorization"] for r in recorded(record)[before:]} == {f"ApiKey {API_KEY}"}


def test_airflow_connection_through_the_provider_hook_basic_and_api_key(
    loaded: int, secured: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flywheel.airflow.connections import es_client_from_connection

    url, record = secured
    port = int(url.rsplit(":", 1)[1])
    conns = {
        BASIC: {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": port, "login": USER, "password": PASSWORD},
        f"ApiKey {API_KEY}": {"conn_type": "elasticsearch", "host": url, "extra": {"api_key": API_KEY}},
        # the [id, key] form: the client encodes it into the same header
        f"ApiKey {API_KEY} (pair)": {
            "conn_type": "elasticsearch",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"scheme": "http", "api_key": [API_KEY_ID, API_KEY_SECRET]},
        },
    }
    read = {}
    for header, conn in conns.items():
        monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_ES", json.dumps(conn))
        before = len(recorded(record))
        client = es_client_from_connection()
        read[header] = sum(1 for _ in ElasticsearchSource(client, "secured").iter_records("customer_service"))
        sent = {r["authorization"] for r in recorded(record)[before:]}
        assert sent == {header.removesuffix(" (pair)")}, (header, sent)
    assert len(set(read.values())) == 1 and next(iter(read.values())) > 0, read


def test_wrong_credentials_fail_in_one_line_without_the_secret(secured: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = secured
    logs = tmp_path / "l.jsonl"
    write_logs(logs, 5, seed=1)
    wrong = PASSWORD[::-1]
    out = cli("load", "--input", str(logs), "--es-url", url, "--es-user", USER, env={"ES_PASSWORD": wrong})
    assert out.returncode == 2 and out.stdout.startswith("error: cannot load"), out.stdout + out.stderr
    assert len(out.stdout.splitlines()) == 1 and ("401" in out.stdout or "uthentic" in out.stdout), out.stdout
    assert not [f for f in forms(wrong) if f in out.stdout + out.stderr]
    # credentials inside the URL are refused before any request, and the line does not repeat them
    for bad in (
        f"http://{USER}:{PASSWORD}@{url.split('//')[1]}",
        f"http://{USER}:{quote(PASSWORD, safe='')}@{url.split('//')[1]}",
        f"{url}/?api_key={API_KEY}",
    ):
        out = cli("load", "--input", str(logs), "--es-url", bad)
        assert out.returncode == 2 and "carries credentials" in out.stdout, out.stdout
        assert not leaked(out.stdout + out.stderr), out.stdout


def test_missing_password_variable_is_named(secured: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = secured
    logs = tmp_path / "l.jsonl"
    write_logs(logs, 5, seed=1)
    env = {k: v for k, v in os.environ.items() if k != "ES_PASSWORD"}
    out = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "load", "--input", str(logs), "--es-url", url, "--es-user", USER],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 2 and "ES_PASSWORD" in out.stdout, out.stdout


def test_airflow_path_errors_are_scrubbed(secured: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from flywheel.airflow.connections import es_client_from_connection

    url, _ = secured
    # a host written as a URL with the password inside: refused, and the error does not repeat it
    inline = f"http://{USER}:{PASSWORD}@{url.split('//')[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_ES", json.dumps({"conn_type": "elasticsearch", "host": inline}))
    with pytest.raises(ValueError, match="carries credentials") as err:
        es_client_from_connection()
    assert not leaked(str(err.value))
    # a wrong password: the server's refusal names neither the password nor its Basic token
    wrong = {"conn_type": "elasticsearch", "host": url, "login": USER, "password": PASSWORD + "x"}
    monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_ES", json.dumps(wrong))
    client = es_client_from_connection()
    with pytest.raises(Exception) as failed:
        list(ElasticsearchSource(client, "secured").iter_records("customer_service"))
    assert type(failed.value).__name__ == "AuthenticationException", repr(failed.value)
    assert not leaked(str(failed.value) + repr(failed.value))
