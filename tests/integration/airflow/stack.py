"""Test stacks: the product's LocalStack pointed at this checkout's dags/ and pools, with a test config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from flywheel.localstack.stack import LocalStack

ROOT = Path(__file__).resolve().parents[3]


def make_stack(workdir: Path, config: dict[str, Any], **kw: Any) -> LocalStack:
    config_path = workdir / "flywheel.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
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
