"""The recommendation: the cheapest completed experiment that meets the quality bar (and latency cap)."""

from __future__ import annotations

from collections.abc import Sequence

from flywheel.decision.cost import savings
from flywheel.decision.intervals import score_interval
from flywheel.run.models import Bar, ComparisonRow, Recommendation, RecommendationNote, ResultEntry

PRIMARY_METRIC = {"tool_calling": "function_name_and_args_accuracy", "classification": "f1", "generic": "similarity"}

__all__ = ["PRIMARY_METRIC", "Bar", "comparison", "recommend", "why_not"]


def why_not(entry: ResultEntry, metric: str, bar: Bar) -> str | None:
    """None when the entry meets the bar, else the first reason it does not."""
    if entry.status != "completed":
        return entry.status
    if metric not in entry.scores:
        return f"no {metric} score"
    score = entry.scores[metric]
    if score < bar.min_quality:
        return f"{metric} {score:.3f} < {bar.min_quality:g}"
    if bar.max_p95_ms is not None:
        p95 = entry.p95_ms
        if p95 is None:
            return "latency not measured (a p95 cap is set)"
        if p95 > bar.max_p95_ms:
            return f"p95 {p95:.0f} ms > {bar.max_p95_ms:g} ms"
    return None


def comparison(results: Sequence[ResultEntry], metric: str, bar: Bar, n: int | None) -> list[ComparisonRow]:
    """One row per completed experiment with a primary score: score, interval, latency, cost, verdict."""
    rows = []
    for e in results:
        if e.status != "completed" or metric not in e.scores:
            continue
        score = e.scores[metric]
        ci, _ = score_interval(metric, score, n, e.per_row_scores)
        verdict = why_not(e, metric, bar)
        rows.append(
            ComparisonRow(
                nim=e.nim,
                experiment=e.experiment,
                score=score,
                ci=ci,
                p95_ms=e.p95_ms,
                per_1m_output_tokens_usd=e.per_1m_output_tokens_usd,
                meets_bar=verdict is None,
                why_not=verdict,
            )
        )
    return rows


def _rank(row: ComparisonRow) -> tuple[bool, float, float, str, str]:
    cost = row.per_1m_output_tokens_usd
    return (cost is None, cost if cost is not None else 0.0, -row.score, row.nim, row.experiment)


def recommend(
    results: Sequence[ResultEntry],
    workload_type: str,
    bar: Bar,
    eval_records: int | None,
    production_per_1m: float | None,
    output_tokens_per_month: float | None,
) -> tuple[Recommendation | None, RecommendationNote]:
    """(recommendation or None, note). The note always has ``reason`` and, without a recommendation, the
    ``closest`` candidate (highest primary score among completed experiments)."""
    metric = PRIMARY_METRIC.get(workload_type)
    if metric is None:
        return None, RecommendationNote(reason=f"unknown workload type {workload_type!r}")
    rows = comparison(results, metric, bar, eval_records)
    eligible = sorted((r for r in rows if r.meets_bar), key=_rank)
    if not eligible:
        closest = max(rows, key=lambda r: (r.score, r.nim, r.experiment), default=None)
        if closest is None:
            reason = f"no completed experiment has a {metric} score"
        else:
            reason = (
                f"no completed candidate meets the bar ({bar.describe(metric)}); closest: "
                f"{closest.nim} {closest.experiment} ({closest.why_not})"
            )
        return None, RecommendationNote(reason=reason, closest=closest)
    win = eligible[0]
    saved = None
    if production_per_1m is not None and output_tokens_per_month is not None and win.per_1m_output_tokens_usd:
        saved = round(savings(production_per_1m, win.per_1m_output_tokens_usd, output_tokens_per_month), 2)
    reason = _reason(win, eligible, metric, bar, results, eval_records, production_per_1m, saved)
    rec = Recommendation(
        nim=win.nim,
        experiment=win.experiment,
        primary_metric=metric,
        score=win.score,
        ci=win.ci,
        p95_ms=win.p95_ms,
        per_1m_output_tokens_usd=win.per_1m_output_tokens_usd,
        savings_per_month_usd=saved,
        min_quality=bar.min_quality,
        max_p95_ms=bar.max_p95_ms,
        reason=reason,
    )
    return rec, RecommendationNote(reason=reason)


def _reason(
    win: ComparisonRow,
    eligible: list[ComparisonRow],
    metric: str,
    bar: Bar,
    results: Sequence[ResultEntry],
    n: int | None,
    production_per_1m: float | None,
    saved: float | None,
) -> str:
    cost = win.per_1m_output_tokens_usd
    parts = [
        f"{win.nim} {win.experiment} is the cheapest of {len(eligible)} candidate(s) meeting the bar "
        f"({bar.describe(metric)}): {metric} {win.score:.3f}"
        + (f", ${cost:.4f} per 1M output tokens" if cost is not None else ", cost unknown (latency not measured)")
    ]
    if production_per_1m is not None and cost is not None:
        parts.append(f"production costs ${production_per_1m:.4f} per 1M output tokens")
    if saved is not None:
        parts.append(f"saves ${saved:,.2f} per month at the logged volume")
    if win.ci is None:
        entry = next(e for e in results if e.key == (win.nim, win.experiment))
        parts.append(score_interval(metric, win.score, n, entry.per_row_scores)[1])
    elif win.ci[0] < bar.min_quality:
        parts.append(
            f"caution: its 95% interval [{win.ci[0]:.3f}, {win.ci[1]:.3f}] straddles the bar "
            f"{bar.min_quality:g}; a larger eval set would make this safer"
        )
    tied = [r for r in eligible[1:] if r.per_1m_output_tokens_usd == cost]
    if tied:
        parts.append(f"tied on cost with {len(tied)} other(s); higher {metric} wins")
    return "; ".join(parts)
