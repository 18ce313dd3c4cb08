"""Worker subprocesses for the parallel scan and write: ``python -m <module> <job>``, joined in order.

Plain subprocesses, not ``multiprocessing``: that would re-import the caller's main module (a script, an
Airflow task runner) in every worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress


@contextmanager
def worker_processes(
    module: str, what: str, tick: Callable[[], None] | None = None, tick_s: float = 1.0
) -> Iterator[Callable[[str], None]]:
    """Yields ``start(job)``; on leaving, waits for every started worker (calling ``tick`` every ``tick_s``
    while they run) and raises when one failed. Workers still running when the body (or another worker)
    failed are killed."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(job: str) -> None:
        procs.append(
            subprocess.Popen([sys.executable, "-m", module, job], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )

    try:
        yield start
        if tick is not None:
            running = next((p for p in procs if p.poll() is None), None)
            while running is not None:
                tick()
                with suppress(subprocess.TimeoutExpired):
                    running.wait(tick_s)
                running = next((p for p in procs if p.poll() is None), None)
            tick()
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"{what} worker failed: {err.decode(errors='replace').strip()[-500:]}")
    finally:
        for proc in procs:  # only on failure are any still running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
