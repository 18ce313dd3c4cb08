"""Read Helix evaluation results into the port's answers: aggregates, report scores and per-row results.

``eval-results/{job}`` holds one aggregate per ``<metric type>.<output>`` (``scores.scores[]`` with
``name``, ``mean``, ``count``). Classification F1 is not a Helix metric: it is the macro F1 over the
bracketed labels of the row scores, whose per-row exact-match value must agree with our own label
comparison (a disagreement means the templates and this module drifted apart, and is an error).

Row scores (``evaluate/jobs/{job}/results/row-scores/download``, JSON lines) hold ``row_index``, the
dataset ``item``, the candidate's ``sample``, ``metrics.<metric type>[] = {name, value}`` and the
``requests`` made for the row (the judge's among them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.platforms.core.jsonread import obj, objs, path, text
from flywheel.platforms.core.scores import ScoreError, similarity_to_unit
from flywheel.platforms.core.slices import label, reference_message, row_slice
from flywheel.platforms.core.specs import EvalRow, EvaluationResults, Score, WorkloadType

__all__ = ["aggregates", "classification_from_rows", "label", "macro_f1", "read_scores", "results", "rows"]

# Helix's ``<metric type>.<output>`` → the port's ``metric`` / ``score`` (the names NMP reports under)
NEUTRAL = {
    "llm-judge.similarity": ("llm-judge", "similarity"),
    "tool-calling.function_name_accuracy": ("tool-calling-accuracy", "function_name_accuracy"),
    "tool-calling.function_name_and_args_accuracy": ("tool-calling-accuracy", "function_name_and_args_accuracy"),
    "llm-judge.rating": ("correctness", "rating"),
    "exact-match.exact-match": ("f1", "accuracy"),
}


def aggregates(result: Mapping[str, JsonValue]) -> dict[str, JsonObject]:
    items = path(dict(result), "scores", "scores")
    if not isinstance(items, list):
        raise ScoreError("Helix eval result has no scores.scores list")
    return {text(s["name"]): s for s in objs(items) if "name" in s}


def _mean(found: Mapping[str, JsonObject], name: str, required: bool = True) -> float | None:
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


def _outputs(row: JsonObject) -> dict[str, JsonValue]:
    """``{<metric type>.<output>: value}`` of one row."""
    out: dict[str, JsonValue] = {}
    for metric, values in obj(row.get("metrics")).items():
        for v in objs(values):
            out[f"{metric}.{text(v.get('name'))}"] = v.get("value")
    return out


def classification_from_rows(rows: Iterable[JsonObject]) -> dict[str, float]:
    truth, pred, agree = [], [], []
    for row in rows:
        t = label(reference_message(obj(row.get("item"))).get("content"))
        p = label(obj(row.get("sample")).get("output_text"))
        helix = _outputs(row).get("exact-match.exact-match")
        if not isinstance(helix, int | float):
            raise ScoreError(f"row {row.get('row_index')} has no exact-match score")
        if float(helix) != float(t == p):
            raise ScoreError(f"row {row.get('row_index')}: Helix exact-match {helix} but labels {t!r} vs {p!r}")
        truth.append(t)
        pred.append(p)
        agree.append(float(t == p))
    return {"f1": _unit("f1", macro_f1(truth, pred)), "accuracy": _unit("accuracy", sum(agree) / len(agree))}


def read_scores(
    workload_type: str, result: Mapping[str, JsonValue], rows: Iterable[JsonObject] | None = None
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


def results(workload_type: WorkloadType, result: JsonObject, rows: list[JsonObject] | None) -> EvaluationResults:
    """The port's aggregates of a Helix eval result; classification F1 and accuracy from the row scores.
    The similarity stays on the judge's 1..10 scale, as NMP reports it."""
    scores = read_scores(workload_type, result, rows)  # checks counts, ranges and the row/aggregate agreement
    metrics: dict[str, dict[str, Score]] = {}
    for name, entry in aggregates(result).items():
        if name in NEUTRAL:
            metric, score = NEUTRAL[name]
            mean, count = entry.get("mean"), entry.get("count")
            value = float(mean) if isinstance(mean, int | float) else None
            metrics.setdefault(metric, {})[score] = Score(value=value, count=count if isinstance(count, int) else None)
    if workload_type == "classification":
        n = len(rows or [])
        metrics["f1"] = {k: Score(value=v, count=n) for k, v in scores.items()}
    return EvaluationResults(workload_type=workload_type, metrics=metrics, raw=dict[str, object](result))


def judge_answer(row: JsonObject) -> str | None:
    """The judge's text for a row: the reply of the row's last request that is not the candidate's."""
    candidate = text(path(row, "sample", "output_text"))
    answers = []
    for request in objs(row.get("requests")):
        said = path(request, "response", "choices")
        first = objs(said)[0] if objs(said) else {}
        content = path(first, "message", "content")
        if isinstance(content, str) and content != candidate:
            answers.append(content)
    return answers[-1] if answers else None


def rows(workload_type: WorkloadType, scored: list[JsonObject]) -> list[EvalRow]:
    """Per-row results of Helix row scores, under the port's ``<metric>.<score>`` names."""
    out = []
    for i, row in enumerate(scored):
        item = obj(row.get("item"))
        values: dict[str, float | None] = {}
        for name, value in _outputs(row).items():
            metric, score = NEUTRAL.get(name, tuple(name.split(".", 1)))
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            values[f"{metric}.{score}"] = number
        judged = any(name.startswith("llm-judge.") for name in _outputs(row))
        index = row.get("row_index")
        row_id = item.get("id")
        out.append(
            EvalRow(
                row_id=str(row_id) if isinstance(row_id, str | int) else str(index if isinstance(index, int) else i),
                slice=row_slice(workload_type, item),
                scores=values,
                judge_answer=judge_answer(row) if judged else None,
            )
        )
    return out
