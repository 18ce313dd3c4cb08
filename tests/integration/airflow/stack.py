"""Test stacks: the product's LocalStack pointed at this checkout's dags/ and pools, with a test config."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from flywheel.localstack.stack import LocalStack, migrated_database

ROOT = Path(__file__).resolve().parents[3]


@functools.cache
def database_template() -> Path:
    """One migrated metadata database for the session's local-engine stacks (each starts from a copy)."""
    home = Path(tempfile.mkdtemp(prefix="flywheel-airflow-db-"))
    atexit.register(shutil.rmtree, home, True)
    return migrated_database(home)


def make_stack(workdir: Path, config: dict[str, Any], **kw: Any) -> LocalStack:
    config_path = workdir / "flywheel.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    if kw.get("executor", "local") == "local":
        kw.setdefault("database_template", database_template())
    return LocalStack(
        workdir=workdir,
        config_path=config_path,
        dags_folder=ROOT / "dags",
        pools_file=ROOT / "config" / "pools.json",
        plugins_folder=ROOT / "plugins",
        **kw,
    )


def reset_emulator(stack: LocalStack, faults: list[dict[str, Any]] | None = None) -> None:
    """A clean emulator for the next test (no jobs, deployments, counters or faults), then ``faults``."""
    stack.emulator("DELETE", "/emulator/faults")
    stack.emulator("POST", "/emulator/reset")
    if faults:
        stack.emulator("POST", "/emulator/faults", json=faults)


def kill_and_restart(stack: LocalStack, name: str) -> None:
    """kill -9 the stack's process ``name`` (its own process group, started by the stack) and start it again."""
    (proc,) = [p for p in stack.processes if p.name == name]
    os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group (start_new_session)
    assert proc.proc is not None
    proc.proc.wait(timeout=30)
    proc.start()


@contextmanager
def running(
    stack: LocalStack, *dag_ids: str, alongside: AbstractContextManager[Any] | None = None
) -> Iterator[LocalStack]:
    """Start the stack (and ``alongside``, e.g. a MongoDB server), wait until ``dag_ids`` are parsed, and stop
    exactly what was started, by pid, even when the test fails; then check nothing is left running."""
    with ExitStack() as exits:
        if alongside is not None:
            exits.enter_context(alongside)
        exits.callback(stack.stop)
        stack.start()
        for dag_id in dag_ids:
            stack.api.wait_for_dag(dag_id)
        yield stack
    left = stack.alive()
    assert not left, f"stack processes left running: {left}"
    if alongside is not None and hasattr(alongside, "alive"):
        assert not alongside.alive(), "a server started beside the stack is still running"


def assert_not_in_run(stack: LocalStack, dag_id: str, run_id: str, secret: str, *outputs: Any) -> None:
    """``secret`` is in none of the run's task logs (every field of every line, every try) nor in ``outputs``."""
    seen = [json.dumps(o) for o in outputs]
    for ti in stack.api.task_instances(dag_id, run_id):
        for attempt in range(1, ti["try_number"] + 1):
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{attempt}"
            r = stack.api.http.get(path, params={"map_index": ti["map_index"]})
            assert r.status_code == 200, (path, r.status_code)
            seen.append(r.text)
    assert len(seen) > 10, f"only {len(seen)} logs and outputs to look at"
    assert not [text[:200] for text in seen if secret in text], "the secret is in a log or output"
