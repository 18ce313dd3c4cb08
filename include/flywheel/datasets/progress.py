"""Progress of the scan (the long pass of a build): a bar on a terminal, a log line now and then elsewhere.

On a terminal: a tqdm bar over the input's bytes (rate and ETA) with the records read and records/s. tqdm,
not rich: it is already installed (with huggingface_hub), draws one line on stderr without taking over
the console, and gives rate and ETA from ``update`` calls alone. Elsewhere (an Airflow task log, a pipe):
one ``INFO`` line of the ``flywheel.datasets`` logger every ``interval`` seconds, then one at the end.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

log = logging.getLogger("flywheel.datasets")
EVERY_LINES = 4096  # the scan reports after this many lines (time is read only then)


class Progress:
    def __init__(self, total_bytes: int | None, what: str, interval: float = 10.0, stream: IO[str] | None = None):
        self.total, self.what, self.interval = total_bytes, what, interval
        self.stream = stream if stream is not None else sys.stderr
        self.started = self.last = time.monotonic()
        self.done = self.records = 0
        self.bar: Any = None
        if _isatty(self.stream):
            from tqdm import tqdm

            # a terminal that reports no width (a bare pty) gets 100 columns, not an empty bar
            width = {"dynamic_ncols": True} if _columns(self.stream) else {"ncols": 100, "nrows": 24}
            self.bar = tqdm(total=total_bytes, desc=what, unit="B", unit_scale=True, file=self.stream, **width)

    def __call__(self, done_bytes: int, records: int) -> None:
        self.done, self.records = done_bytes, records
        now = time.monotonic()
        if self.bar is not None:
            self.bar.set_postfix_str(f"{records} records, {self._rate(now):.0f} records/s", refresh=False)
            self.bar.update(done_bytes - self.bar.n)
        elif now - self.last >= self.interval:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        text = f"{self.what}: {self.records} records, {self._rate(now):.0f} records/s"
        if self.total:
            share = min(self.done / self.total, 1.0)
            text += f", {share:.0%} of {self.total / 2**20:.1f} MiB"
            if 0 < share < 1:
                text += f", ETA {elapsed * (1 - share) / share:.0f} s"
        return text

    def _rate(self, now: float) -> float:
        return self.records / max(now - self.started, 1e-6)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.records:
            log.info("%s (done in %.1f s)", self.line(), time.monotonic() - self.started)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0
