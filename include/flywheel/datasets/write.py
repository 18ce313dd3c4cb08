"""Pass 3 of the build: dataset lines for chosen records, read back from the spill files by offset (train /
val lines were encoded during the scan: for them this is mostly a copy).

A large file is written by several processes (the caller plus ``python -m flywheel.datasets.write``
workers), each formatting a contiguous slice of the rows into its own part; the parts are then joined in
order with in-kernel copies, so the file is the same as one writer would make.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from flywheel.datasets import formats
from flywheel.datasets.scan import RecordReader
from flywheel.datasets.workers import worker_processes
from flywheel.records import jsonio

PARALLEL_WRITE_ROWS = 100_000  # fewer rows are not worth starting a process for


def write_rows(spills: list[tuple[Path, int]], offsets: np.ndarray, kind: str, wtype: str, out: Path) -> None:
    reader = RecordReader(spills)
    try:
        with out.open("wb") as f:
            for start in range(0, len(offsets), 65_536):
                if kind == "eval":
                    for off in offsets[start : start + 65_536].tolist():
                        f.write(formats.dumps_bytes(formats.eval_line(reader.record(off))) + b"\n")
                else:
                    f.writelines(reader.train_line(off, wtype) for off in offsets[start : start + 65_536].tolist())
    finally:
        reader.close()


def write_file(
    spills: list[tuple[Path, int]], offsets: np.ndarray, kind: str, wtype: str, out: Path, tmp: Path, workers: int
) -> None:
    if workers <= 1 or len(offsets) < PARALLEL_WRITE_ROWS:
        write_rows(spills, offsets, kind, wtype, out)
        return
    chunks = np.array_split(offsets, workers)
    parts = [tmp / f"{out.stem}-part-{i}.jsonl" for i in range(workers)]
    with worker_processes("flywheel.datasets.write", "write") as start:
        for i in range(1, workers):
            np.save(parts[i].with_suffix(".npy"), chunks[i])
            job = {"spills": [[str(p), b] for p, b in spills], "kind": kind, "wtype": wtype, "out": str(parts[i])}
            start(jsonio.dumps_compact(job).decode())
        write_rows(spills, chunks[0], kind, wtype, parts[0])
    with out.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                _append(src.fileno(), dst.fileno(), part.stat().st_size)
            part.unlink()


def _append(src: int, dst: int, size: int) -> None:
    left = size
    while left > 0:
        try:
            n = os.copy_file_range(src, dst, left)
        except OSError:  # e.g. across file systems on old kernels
            n = os.write(dst, os.read(src, min(left, 1 << 24)))
        if n == 0:
            break
        left -= n


if __name__ == "__main__":  # a worker of :func:`write_file`
    _job = jsonio.loads(sys.argv[1])
    _out = Path(_job["out"])
    write_rows(
        [(Path(p), int(b)) for p, b in _job["spills"]],
        np.load(_out.with_suffix(".npy")),
        _job["kind"],
        _job["wtype"],
        _out,
    )
