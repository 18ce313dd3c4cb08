"""Shared DAG integrity checks: used on ``dags/`` and, to prove they can fail, on broken fixtures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Runs in a fresh interpreter: blocks the network, imports one DAG file, prints the import time.
_IMPORT_PROBE = r"""
import importlib.util, json, socket, sys, time
def _no_network(*a, **k):
    raise RuntimeError("network access at DAG import time")
socket.socket.connect = _no_network
socket.create_connection = _no_network
socket.getaddrinfo = _no_network
path = sys.argv[1]
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def dag_import_errors(folder: Path) -> tuple[dict[str, str], list[str]]:
    """Parse ``folder`` with Airflow's DagBag; return (import_errors, dag_ids)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    return dict(bag.import_errors), sorted(bag.dag_ids)


def import_seconds(dag_file: Path, env: dict[str, str]) -> float:
    """Seconds to import one DAG module (after the interpreter and Airflow itself are warm)."""
    # Warm-up: import airflow.sdk first so we time our module, not Airflow's own start-up.
    probe = "import airflow.sdk\n" + _IMPORT_PROBE
    out = subprocess.run(
        [sys.executable, "-c", probe, str(dag_file)], capture_output=True, text=True, env=env, timeout=120
    )
    if out.returncode != 0:
        raise AssertionError(f"{dag_file.name} failed to import:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
