"""New log records and their tool/class distribution, for the log watcher (``airflow/log_watch.py``).

The drift figure is the Jensen-Shannon divergence (base 2, so in [0, 1]) between the label counts of the
records seen at the last event and those of the records that arrived since; a record's label is the first
tool its logged answer called, else its ``[[class]]`` label, else ``"(text)"``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.serving.compare import label_of, message_of

TEXT = "(text)"


def record_label(record: Mapping[str, object]) -> str:
    response = record.get("response")
    msg = message_of(response) if isinstance(response, dict) else {}
    return label_of(msg) or TEXT


def js_divergence(p: Mapping[str, int], q: Mapping[str, int]) -> float:
    """Jensen-Shannon divergence of two count vectors, base 2: 0 = same distribution, 1 = disjoint."""
    tp, tq = sum(p.values()), sum(q.values())
    if not tp or not tq:
        return 0.0
    js = 0.0
    for k in set(p) | set(q):
        a, b = p.get(k, 0) / tp, q.get(k, 0) / tq
        m = (a + b) / 2
        if a:
            js += a / 2 * math.log2(a / m)
        if b:
            js += b / 2 * math.log2(b / m)
    return max(0.0, min(1.0, js))


@dataclass
class FileTail:
    """Where the watcher stopped reading one JSONL file, and what it counted since the last event.

    Only complete lines are counted (a line still being written waits for its newline). A file that got
    shorter was replaced: it is read again from the start."""

    path: str
    workload_id: str
    offset: int = 0
    new_records: int = 0
    new_labels: Counter[str] = field(default_factory=Counter)

    def read(self, max_bytes: int = 64 * 1024 * 1024) -> int:
        """Read what was appended; return how many of the workload's records it held."""
        p = Path(self.path)
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            return 0
        if size < self.offset:
            self.offset = 0
        if size == self.offset:
            return 0
        with p.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(min(size - self.offset, max_bytes))
        end = chunk.rfind(b"\n")
        if end < 0:
            return 0
        self.offset += end + 1
        found = 0
        for line in chunk[: end + 1].splitlines():
            rec = _record(line)
            if rec is None or rec.get("workload_id") != self.workload_id:
                continue
            found += 1
            self.new_labels[record_label(rec)] += 1
        self.new_records += found
        return found


def _record(line: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
