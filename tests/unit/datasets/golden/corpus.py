"""Deterministic corpora and build cases for the golden comparison (shared by the generator and the test)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tests.unit.datasets.factory import bulk_record, labelled, write_logs


def tool_corpus(path: Path) -> Path:
    """Out-of-order tool-calling logs with broken lines, re-spaced duplicates and same-second duplicates
    whose answers differ (the newest-wins tie-break), plus lines of another workload."""
    write_logs(path, 420, seed=3, bad_every=53, dup_every=9)
    rng = random.Random(5)
    extra: list[dict[str, Any]] = []
    for i in range(12):
        rec = bulk_record(10_000 + i, rng)
        twin = json.loads(json.dumps(rec))
        twin["response"]["id"] = f"chatcmpl-twin-{i}"
        extra += [rec, twin]
    extra += [bulk_record(20_000 + i, rng, workload_id="other_workload") for i in range(7)]
    for i in range(6):  # rejected by validation, or filtered as truncated
        rec = bulk_record(30_000 + i, rng)
        if i % 3 == 0:
            del rec["request"]
        elif i % 3 == 1:
            rec["response"]["choices"][0]["finish_reason"] = "length"
        else:
            rec["response"]["choices"][0]["message"] = {"role": "assistant", "content": "  "}
        extra.append(rec)
    with path.open("a", encoding="utf-8") as f:
        for rec in extra:
            f.write(json.dumps(rec) + "\n")
    return path


LABELS = ("earnings", "guidance", "dividends", "regulatory", "other", "credit ratings")


def classification_corpus(path: Path) -> Path:
    rng = random.Random(11)
    with path.open("w", encoding="utf-8") as f:
        for i in range(260):
            label = LABELS[min(rng.randrange(12), len(LABELS) - 1)]  # imbalanced; the last class is rare
            rec = labelled(f"Headline number {rng.randrange(10**5)}: company {i} reports", label, ts=5_000 + i % 97)
            rec["workload_id"] = "news"
            f.write(json.dumps(rec) + "\n")
    return path


# name -> (corpus builder, workload_id, split overrides, icl overrides)
CASES: dict[str, tuple[Any, str, dict[str, Any], dict[str, Any]]] = {
    "tool_unlimited": (tool_corpus, "customer_service", {"limit": None, "eval_size": 40}, {}),
    "tool_limit_150": (tool_corpus, "customer_service", {"limit": 150, "eval_size": 25, "random_seed": 7}, {}),
    "class_unlimited": (
        classification_corpus,
        "news",
        {"limit": None, "eval_size": 30, "val_ratio": 0.2},
        {"max_examples": 2},
    ),
    "class_limit_120_small_window": (
        classification_corpus,
        "news",
        {"limit": 120, "eval_size": 20},
        {"max_context_length": 2400, "reserved_tokens": 1900, "min_examples": 2},
    ),
}
