"""The report's trust figures (docs/results.md#paired-comparisons-slices-and-judge-checks): the rows artifacts
read back, intervals from rows, and ``decision.trust.assess`` for the recommended candidate, whose withhold
reason withholds the recommendation (with that reason, never silently).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flywheel.airflow.judge_check import ProbeRun
from flywheel.airflow.rows_store import read_rows
from flywheel.config import SelectionConfig
from flywheel.decision.judge_checks import JUDGE_METRICS, JudgeCheck, check_judge
from flywheel.decision.recommend import PRIMARY_METRIC
from flywheel.decision.rows import EvalRow, metric_values
from flywheel.decision.trust import ROW_METRIC, Assessment, Experiment, assess
from flywheel.jsontypes import JsonObject
from flywheel.run.models import DecisionFields, RecommendationNote, ResultEntry

log = logging.getLogger(__name__)
Key = tuple[str, str]


@dataclass
class RunRows:
    """Each experiment's rows (by ``(nim, experiment)``) and why some could not be read."""

    rows: dict[Key, list[EvalRow]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def load_rows(results: Sequence[ResultEntry]) -> RunRows:

    out = RunRows()
    for e in results:
        if e.status != "completed":
            continue
        if not e.rows_url:
            out.missing.append(f"{e.nim} {e.experiment}: no per-row results")
            continue
        try:
            out.rows[e.key] = read_rows(e.rows_url)
        except ValueError as exc:
            log.warning("%s", exc)
            out.missing.append(f"{e.nim} {e.experiment}: {exc}")
    return out


def with_row_scores(results: Sequence[ResultEntry], found: RunRows, workload_type: str | None) -> list[ResultEntry]:
    """Entries carrying their per-row primary scores, so each score's interval is a bootstrap over its rows
    (when the primary metric is a per-row value: not classification's macro F1)."""
    metric = PRIMARY_METRIC.get(workload_type or "")
    if metric is None or ROW_METRIC.get(workload_type or "") != metric:
        return list(results)
    out = []
    for e in results:
        values = metric_values(found.rows.get(e.key, []), metric)
        out.append(e.model_copy(update={"per_row_scores": list(values.values()) or None}))
    return out


def probe_check(
    probe_run: Mapping[str, object] | None, rows: Sequence[EvalRow], min_agreement: float
) -> JudgeCheck | None:
    """The judge check from ``check_judge``'s probes and the candidate's rows (agreement, unparsed answers)."""
    if not isinstance(probe_run, Mapping):
        return None

    run = ProbeRun.model_validate(probe_run)
    return check_judge(
        run.judge,
        run.results,
        min_agreement,
        rows=rows,
        judge_metric=run.judge_metric,
        exact_metric=run.exact_metric,
    )


def production_rows(entry: ResultEntry | None) -> list[EvalRow] | None:
    """The production reference experiment's rows (None when it was not evaluated or left no rows)."""
    if entry is None or entry.status != "completed" or not entry.rows_url:
        return None

    try:
        return read_rows(entry.rows_url)
    except ValueError as exc:
        log.warning("production reference: %s", exc)
        return None


def unchecked(judge: str, min_agreement: float) -> JudgeCheck:
    """A judge-scored workload whose judge could not be probed (the check task failed or left nothing)."""
    check = check_judge(judge, [], min_agreement)
    return check.model_copy(
        update={"reason": f"withhold: judge {judge} was not checked: task check_judge left no probe results"}
    )


@dataclass(frozen=True)
class Trust:
    decision: DecisionFields
    paired: list[JsonObject] | None
    slices: list[JsonObject] | None
    judge: JsonObject | None
    production_rows_url: str | None = None  # production's rows artifact, when it was evaluated


def _best(results: Sequence[ResultEntry], metric: str) -> ResultEntry | None:
    scored = [r for r in results if r.status == "completed" and metric in r.scores]
    return max(scored, key=lambda r: (r.scores[metric], r.nim, r.experiment), default=None)


def assess_run(
    results: Sequence[ResultEntry],
    decision: DecisionFields,
    found: RunRows,
    workload_type: str | None,
    selection: SelectionConfig,
    probe_run: Mapping[str, object] | None,
    judge_scored: str | None,
    production: Sequence[EvalRow] | None = None,
) -> Trust:
    """The report's ``paired``, ``slices`` and ``judge`` and the decision after them. ``judge_scored`` names
    the judge when a metric of this run is judge-scored (its check is then required); ``production`` is the
    production reference experiment's rows, when it was evaluated."""
    wtype = workload_type or ""
    metric, primary = ROW_METRIC.get(wtype), PRIMARY_METRIC.get(wtype)
    rec = decision.recommendation
    candidate_rows = found.rows.get((rec.nim, rec.experiment), []) if rec else []
    judge = probe_check(probe_run, candidate_rows, selection.min_judge_agreement)
    if judge is None and judge_scored and wtype in JUDGE_METRICS:
        judge = unchecked(judge_scored, selection.min_judge_agreement)
    judge_json: JsonObject | None = judge.model_dump(mode="json") if judge else None
    if rec is None or metric is None or primary is None:
        withheld = judge.reason if judge is not None and not judge.trusted else None
        if withheld and decision.recommendation_note is not None:
            note = decision.recommendation_note
            decision = decision.model_copy(
                update={"recommendation_note": note.model_copy(update={"reason": f"{note.reason}; {withheld}"})}
            )
        return Trust(decision, None, None, judge_json)
    if not candidate_rows:
        missing = "; ".join(found.missing) or "no rows"
        clause = f"no paired comparisons or slices: {missing}"
        assessment = None
    else:
        best = _best(results, primary)
        best_exp = (
            Experiment(f"{best.nim} {best.experiment}", found.rows[best.key])
            if best is not None and best.key in found.rows
            else None
        )
        assessment = assess(
            Experiment(f"{rec.nim} {rec.experiment}", candidate_rows),
            metric,
            selection.min_quality,
            selection.margin,
            selection.max_slice_regression,
            best=best_exp,
            production=Experiment("production", production) if production else None,
            judge=judge,
        )
        clause = "; ".join(assessment.notes)
    withhold = _withhold(assessment, judge)
    if withhold:
        log.warning("recommendation of %s %s withheld: %s", rec.nim, rec.experiment, withhold)
        note = RecommendationNote(reason=f"{withhold}; otherwise: {rec.reason}")
        decision = decision.model_copy(update={"recommendation": None, "recommendation_note": note})
    elif clause:
        reason = f"{rec.reason}; {clause}"
        decision = decision.model_copy(
            update={
                "recommendation": rec.model_copy(update={"reason": reason}),
                "recommendation_note": RecommendationNote(reason=reason),
            }
        )
    if assessment is None:
        return Trust(decision, None, None, judge_json)
    return Trust(
        decision,
        [p.model_dump(mode="json") for p in assessment.paired],
        [s.model_dump(mode="json") for s in assessment.slices],
        judge_json,
    )


def _withhold(assessment: Assessment | None, judge: JudgeCheck | None) -> str | None:
    if assessment is not None:
        return assessment.withhold
    return judge.reason if judge is not None and not judge.trusted else None
