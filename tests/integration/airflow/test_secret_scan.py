"""Secrets never leave the Connections: one whole flywheel run under the real scheduler with planted,
distinctive passwords, then every place a person or a program can read is scanned for them.

Planted: the Elasticsearch log store's password (Basic auth, enforced by ``es_auth_proxy`` in front of
osmem-server: extraction only works if the exact header arrives), the NeMo platform's API key, the remote
judge's key (the emulator's judge answers only with it: evaluations only work if it arrives), and a MongoDB
password. nx-27017 has no authentication, so the MongoDB connection carries the password without a login
(MongoHook then leaves it out of the URI): it is planted in the Connection, not sent.

A second run finds the log store refusing that password (the server now accepts a rotated one), so
extraction fails on every try: its error lines are scanned too.

Scanned, for each secret as written, URL-quoted and as a Basic token: every task log of every try (REST and
the files on disk), the logs of the Airflow components, every XCom of both runs, the REST answers (run, task
instances, extra links), the Flywheel page, its JSON endpoint and the per-run report, and every artifact file.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
import yaml

from flywheel.localstack.stack import LocalStack
from tests.integration.records.es_auth_proxy import es_auth_proxy, recorded
from tests.support.mongo import mongo_server
from tests.support.processes import ManagedProcess, free_port, http_ok

from .stack import make_stack, running
from .test_flywheel_dags import SMALL, TOOLS, make_logs, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ES_USER = "elastic"
TAG = uuid.uuid4().hex[:10]
SECRETS = {
    "es": f"es-{TAG}-p@ss#w/rd:1?&=+",
    "nemo": f"nemo-{TAG}-k3y/with:specials@#",
    "judge": f"judge-{TAG}-secret+key=",
    "mongo": f"mongo-{TAG}-pw%40:/?#",
}


def forms(secret: str) -> set[str]:
    basic = base64.b64encode(f"{ES_USER}:{secret}".encode()).decode()
    return {secret, quote(secret, safe=""), quote_plus(secret), basic, json.dumps(secret)[1:-1]}


def leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {name}" for name, s in SECRETS.items() for f in forms(s) if f in text]


def osmem(log_dir: Path) -> tuple[ManagedProcess, str]:
    import osmem_server

    port = free_port()
    binary = Path(osmem_server.__file__).parent / "bin" / "osmem-server"
    cmd = [str(binary), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"]
    return ManagedProcess("osmem", cmd, log_dir, ready=http_ok(f"http://127.0.0.1:{port}/")), f"http://127.0.0.1:{port}"


class Servers(ExitStack):
    """The log store (osmem behind the auth proxy) and MongoDB, started and stopped together, by pid."""

    def __init__(self, work: Path) -> None:
        super().__init__()
        self.work = work
        self.mongo, self.mongo_conn = mongo_server(work / "mongo")
        # its own pid and log files: the defaults in /tmp are shared with any other nx-27017 on the machine
        self.mongo.cmd += ["--pid-file", str(work / "nx.pid"), "--log-file", str(work / "mongo" / "nx.log")]
        self.osmem, self.upstream = osmem(work / "osmem")
        self.proxy, self.es_url, self.record = es_auth_proxy(
            self.upstream, work / "es-proxy", user=ES_USER, password=SECRETS["es"]
        )
        self.port = int(self.es_url.rsplit(":", 1)[1])
        self.processes = [self.mongo, self.osmem, self.proxy]

    def __enter__(self) -> Servers:
        super().__enter__()
        for p in self.processes:
            self.enter_context(p)
        return self

    def refuse_the_password(self) -> None:
        """The same address, now accepting another password only (as after a rotation)."""
        self.proxy.stop()  # stopping twice (again on exit) is harmless
        self.proxy, _, self.refusals = es_auth_proxy(
            self.upstream, self.work / "es-proxy", user=ES_USER, password=f"rotated-{TAG}", port=self.port
        )
        self.processes.append(self.enter_context(self.proxy))

    def alive(self) -> bool:
        return any(p.alive() for p in self.processes)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, list[str], Servers]]:
    work = tmp_path_factory.mktemp("secret-scan")
    logs = work / "logs.jsonl"
    make_logs(logs)
    emulator_cfg = work / "emulator.yaml"
    emulator_cfg.write_text(yaml.safe_dump({"judge_api_key": SECRETS["judge"]}))
    config = stack_config(logs)
    config["log_source"] = {"kind": "elasticsearch", "index": "flywheel"}
    servers = Servers(work)
    s = make_stack(work, config, emulator_args=["--gpus", "2", "--config", str(emulator_cfg)])
    nemo = {
        "conn_type": "http",
        "host": s.emulator_url,
        "password": SECRETS["nemo"],
        "extra": {"nim_url": s.emulator_url, "datastore_url": s.emulator_url},
    }
    s.extra_env.update(
        {
            "AIRFLOW_CONN_FLYWHEEL_NEMO": json.dumps(nemo),
            "AIRFLOW_CONN_FLYWHEEL_JUDGE": json.dumps(
                {"conn_type": "http", "host": f"{s.emulator_url}/v1/chat/completions", "password": SECRETS["judge"]}
            ),
            "AIRFLOW_CONN_FLYWHEEL_ES": json.dumps(
                {
                    "conn_type": "elasticsearch",
                    "host": "127.0.0.1",
                    "port": servers.port,
                    "login": ES_USER,
                    "password": SECRETS["es"],
                    "extra": {"scheme": "http"},
                }
            ),
            "AIRFLOW_CONN_FLYWHEEL_MONGO": json.dumps({**servers.mongo_conn, "password": SECRETS["mongo"]}),
        }
    )
    with running(s, TOOLS, alongside=servers):
        load = subprocess.run(
            [sys.executable, "-m", "flywheel.cli", "load", "--input", str(logs), "--es-url", servers.es_url,
             "--es-user", ES_USER, "--index", "flywheel"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "ES_PASSWORD": SECRETS["es"]},
        )  # fmt: skip
        assert load.returncode == 0 and not leaks("flywheel load", load.stdout + load.stderr), load.stdout
        rid = f"scan-{TAG}"
        # one candidate, base and ICL evaluations scored by the judge: every connection is used, the run is short
        r = s.api.trigger(TOOLS, {"nims": [SMALL], "customization_enabled": False}, rid)
        assert r.status_code == 200, r.text
        assert s.api.wait_run(TOOLS, rid) == "success", s.api.task_states(TOOLS, rid)
        # then the log store stops accepting that password: extraction fails (every try) with an error line
        refused = f"refused-{TAG}"
        servers.refuse_the_password()
        assert s.api.trigger(TOOLS, {"nims": [SMALL]}, refused).status_code == 200
        assert s.api.wait_run(TOOLS, refused) == "failed", s.api.task_states(TOOLS, refused)
        yield s, [rid, refused], servers


def test_the_planted_secrets_did_their_work(finished: tuple[LocalStack, list[str], Servers]) -> None:
    stack, (ok, refused), servers = finished
    basic = "Basic " + base64.b64encode(f"{ES_USER}:{SECRETS['es']}".encode()).decode()
    assert {r["authorization"] for r in recorded(servers.record)} == {basic}  # extraction went through it
    assert stack.api.xcom(TOOLS, ok, "extract_records")["extract"]["written"] > 100
    report = stack.api.xcom(TOOLS, ok, "report")
    judged = [r for r in report["results"] if r["status"] == "completed" and "correctness" in r["scores"]]
    assert judged, report["results"]  # the judge (which needs its key) scored them
    # the refused run: the old password reached the rotated server, every try failed with one clear line
    assert {r["authorization"] for r in recorded(servers.refusals)} == {basic}
    ti = next(t for t in stack.api.task_instances(TOOLS, refused) if t["task_id"] == "extract_records")
    assert ti["state"] == "failed" and ti["try_number"] == 2, ti
    # the raw answer: the exception's text is a field of the log record, beside its event
    log = stack.api.http.get(f"/dags/{TOOLS}/dagRuns/{refused}/taskInstances/extract_records/logs/2").text
    assert "cannot read logs from index flywheel: AuthenticationException" in log, log[-3000:]


def test_no_secret_in_logs_xcoms_pages_rest_or_artifacts(finished: tuple[LocalStack, list[str], Servers]) -> None:
    stack, runs, _ = finished
    api = stack.api
    found: list[str] = []
    scanned = 0

    def scan(where: str, text: str) -> None:
        nonlocal scanned
        scanned += 1
        found.extend(leaks(where, text))

    for rid in runs:
        tis = api.task_instances(TOOLS, rid)
        scan("REST taskInstances", json.dumps(tis))
        scan("REST dagRun", json.dumps(api.run(TOOLS, rid)))
        for ti in tis:
            name = f"{rid} {ti['task_id']}[{ti['map_index']}]"
            for attempt in range(1, ti["try_number"] + 1):
                path = f"/dags/{TOOLS}/dagRuns/{rid}/taskInstances/{ti['task_id']}/logs/{attempt}"
                r = api.http.get(path, params={"map_index": ti["map_index"]})
                assert r.status_code == 200, (path, r.status_code)
                scan(f"log {name} try {attempt}", r.text)
            links = api.http.get(
                f"/dags/{TOOLS}/dagRuns/{rid}/taskInstances/{ti['task_id']}/links",
                params={"map_index": ti["map_index"]},
            )
            scan(f"links {name}", links.text)
        entries = api.http.get(f"/dags/{TOOLS}/dagRuns/{rid}/taskInstances/~/xcomEntries", params={"limit": 1000})
        assert entries.status_code == 200, entries.text
        xcoms = entries.json()["xcom_entries"]
        assert len(xcoms) >= (10 if rid == runs[0] else 1), xcoms
        for e in xcoms:
            value = api.xcom(TOOLS, rid, e["task_id"], e["map_index"], e["key"])
            scan(f"xcom {rid} {e['task_id']}[{e['map_index']}] {e['key']}", json.dumps(value))

    token = httpx.post(
        f"{stack.api_url}/auth/token", json={"username": "admin", "password": stack.admin_password}
    ).json()["access_token"]
    web = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    workload = TOOLS.removeprefix("flywheel_")
    for path, params in (
        ("/flywheel/", {}),
        ("/flywheel/", {"workload_id": workload, "run_id": runs[0]}),
        ("/flywheel/api/results", {"workload_id": workload}),
        ("/flywheel/report", {"dag_id": TOOLS, "run_id": runs[0]}),
    ):
        r = web.get(path, params=params)
        assert r.status_code == 200, (path, r.status_code)
        scan(f"page {path}", r.text)

    files = [p for p in (stack.workdir / "artifacts").rglob("*") if p.is_file()]
    files += [p for p in (stack.home / "logs").rglob("*") if p.is_file()]  # task logs on disk, every try
    # the Airflow components' own output (the emulator and the test servers receive secrets by design)
    files += [stack.logs / f"{n}.log" for n in ("scheduler", "dag-processor", "triggerer", "api-server")]
    assert any(p.name == "report.html" for p in files) and any(p.suffix == ".log" for p in files)
    for p in files:
        scan(str(p.relative_to(stack.workdir)), p.read_text(errors="replace"))

    assert scanned > 60, scanned
    assert not found, sorted(set(found))[:20]
    # the scanner itself finds each secret in any of its forms (a scan that cannot fail proves nothing)
    for secret in SECRETS.values():
        assert all(leaks("control", f"x{form}x") for form in forms(secret))
