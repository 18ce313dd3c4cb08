"""Lines of a log file, never more than ``max_bytes`` of one in memory.

A longer line (one huge record) is read past in chunks and reported by its size instead of its bytes, so
memory does not follow the largest record of the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

RECORD_TOO_LARGE = "record_too_large"  # invalid reason (stats.json) of a line over max_bytes
DEFAULT_MAX_RECORD_BYTES = 2**20
_SKIP_CHUNK = 2**16


def bounded_lines(f: IO[bytes], max_bytes: int, end: int | None = None) -> Iterator[bytes | int]:
    """Each line of ``f`` (from where it is, until the line that starts at or after byte ``end``): its bytes
    with the newline, or, for a line longer than ``max_bytes`` (not counting the newline), its length."""
    at = f.tell() if end is not None else 0
    while end is None or at < end:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        at += len(line)
        if len(line) <= max_bytes or line[-1:] == b"\n":
            yield line
            continue
        size = len(line)
        while line[-1:] != b"\n":
            line = f.readline(_SKIP_CHUNK)
            if not line:
                break
            size += len(line)
            at += len(line)
        yield size - (line[-1:] == b"\n")


def skip_line(f: IO[bytes]) -> None:
    """Read past the rest of the current line in bounded chunks."""
    while True:
        chunk = f.readline(_SKIP_CHUNK)
        if not chunk or chunk[-1:] == b"\n":
            return
