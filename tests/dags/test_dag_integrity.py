"""Every module in ``dags/`` parses without import errors and without touching the network. How fast it imports
is a budget, not a test: ``benchmarks/bench_dag_import.py`` (``make bench``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .dag_checks import dag_import_errors, import_seconds

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


def test_dagbag_has_no_import_errors():
    errors, _ = dag_import_errors(DAGS)
    assert errors == {}, "\n".join(f"{k}: {v}" for k, v in errors.items())


def test_checker_catches_a_broken_dag(tmp_path):
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nimport does_not_exist_anywhere\n")
    errors, _ = dag_import_errors(tmp_path)
    assert len(errors) == 1 and "does_not_exist_anywhere" in next(iter(errors.values()))


def test_checker_catches_network_at_import(tmp_path):
    bad = tmp_path / "chatty.py"
    bad.write_text("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/')\n")
    with pytest.raises(AssertionError, match="network access at DAG import time"):
        import_seconds(bad, dict(os.environ))


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_module_imports_without_network(dag_file):
    # the probe blocks every socket: a DAG module that connects anywhere at import fails here
    assert import_seconds(dag_file, dict(os.environ)) >= 0
