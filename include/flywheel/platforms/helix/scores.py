"""Read Helix evaluation results into the report's score keys (docs/contracts.md#results, every value in [0, 1]).

``eval-results/{job}`` holds one aggregate per ``<metric type>.<output>`` (``scores.scores[]`` with
``name``, ``mean``, ``count``). Classification F1 is not a Helix metric: it is the macro F1 over the
bracketed labels of the row scores, whose per-row exact-match value must agree with our own label
comparison (a disagreement means the templates and this module drifted apart, and is an error).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from flywheel.nemo.scores import ScoreError, similarity_to_unit


def aggregates(result: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    block = result.get("scores") if isinstance(result, Mapping) else None
    items = block.get("scores") if isinstance(block, Mapping) else None
    if not isinstance(items, list):
        raise ScoreError("Helix eval result has no scores.scores list")
    return {str(s["name"]): s for s in items if isinstance(s, Mapping) and "name" in s}


def _mean(found: Mapping[str, Mapping[str, Any]], name: str, required: bool = True) -> float | None:
    entry = found.get(name)
    if entry is None:
        if required:
            raise ScoreError(f"Helix eval result has no score {name!r} (found: {', '.join(found) or 'none'})")
        return None
    if not entry.get("count"):
        raise ScoreError(f"{name!r} was computed over 0 rows (no parsable judge/metric output)")
    value = entry.get("mean")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScoreError(f"{name!r} mean is not a finite number: {value!r}")
    return float(value)


def _unit(name: str, value: float) -> float:
    if not -1e-9 <= value <= 1 + 1e-9:
        raise ScoreError(f"score {name!r} = {value} is outside [0, 1]")
    return min(max(value, 0.0), 1.0)


def label(text: Any) -> str:
    """The same label the classification templates render (see ``payloads._LABEL``)."""
    t = "" if text is None else str(text)
    if "[[" in t and "]]" in t.split("[[")[1]:
        return t.split("[[")[1].split("]]")[0].strip().lower()
    return t.strip().lower()


def macro_f1(truth: list[str], pred: list[str]) -> float:
    """Macro F1 over the labels seen in ``truth`` or ``pred`` (a label never right scores 0)."""
    if not truth:
        raise ScoreError("no rows to compute F1 from")
    f1s = []
    for lab in sorted(set(truth) | set(pred)):
        tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == lab and p == lab)
        fp = sum(1 for t, p in zip(truth, pred, strict=True) if t != lab and p == lab)
        fn = sum(1 for t, p in zip(truth, pred, strict=True) if t == lab and p != lab)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def classification_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    truth, pred, agree = [], [], []
    for row in rows:
        item, sample = row.get("item") or {}, row.get("sample") or {}
        choices = ((item.get("response") or {}).get("choices") or [{}]) if isinstance(item, Mapping) else [{}]
        t = label((choices[0].get("message") or {}).get("content"))
        p = label(sample.get("output_text") if isinstance(sample, Mapping) else None)
        helix = [s.get("value") for s in (row.get("metrics") or {}).get("exact-match", []) if isinstance(s, Mapping)]
        if not helix or helix[0] is None:
            raise ScoreError(f"row {row.get('row_index')} has no exact-match score")
        if float(helix[0]) != float(t == p):
            raise ScoreError(f"row {row.get('row_index')}: Helix exact-match {helix[0]} but labels {t!r} vs {p!r}")
        truth.append(t)
        pred.append(p)
        agree.append(float(t == p))
    return {"f1": _unit("f1", macro_f1(truth, pred)), "accuracy": _unit("accuracy", sum(agree) / len(agree))}


def read_scores(
    workload_type: str, result: Mapping[str, Any], rows: Iterable[Mapping[str, Any]] | None = None
) -> dict[str, float]:
    """Report scores from an eval result (and, for classification, its row scores)."""
    found = aggregates(result)
    if workload_type == "generic":
        raw = _mean(found, "llm-judge.similarity")
        return {"similarity": similarity_to_unit(raw if raw is not None else math.nan)}
    if workload_type == "tool_calling":
        out = {}
        for score in ("function_name_accuracy", "function_name_and_args_accuracy"):
            v = _mean(found, f"tool-calling.{score}")
            out[score] = _unit(score, v if v is not None else math.nan)
        rating = _mean(found, "llm-judge.rating", required=False)
        if rating is not None:
            out["correctness"] = _unit("correctness", rating)
        return out
    if workload_type == "classification":
        if rows is None:
            raise ScoreError("classification F1 needs the row scores")
        out = classification_from_rows(rows)
        helix_acc = _mean(found, "exact-match.exact-match")
        if helix_acc is not None and abs(helix_acc - out["accuracy"]) > 1e-9:
            raise ScoreError(f"row accuracy {out['accuracy']} differs from Helix's exact-match mean {helix_acc}")
        return out
    raise ScoreError(f"unknown workload type {workload_type!r}")
