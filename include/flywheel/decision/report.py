"""The decision fields of the report (docs/contracts.md#results): latency and cost per entry, production,
recommendation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flywheel.config import NimConfig, ProductionConfig, SelectionConfig
from flywheel.decision.cost import gpu_hours, per_1m_output_tokens_usd, production_per_1m_output_tokens_usd
from flywheel.decision.recommend import PRIMARY_METRIC, comparison, recommend
from flywheel.run.models import (
    Bar,
    Cost,
    DecisionFields,
    Latency,
    LatencyRun,
    MeasuredLatency,
    Production,
    RecommendationNote,
    ResultEntry,
    TokenVolume,
)

LATENCY_KEYS = set(Latency.model_fields)


def entry_cost(
    entry: ResultEntry,
    latency: Latency | None,
    nim: NimConfig | None,
    gpu_hour_usd: Mapping[str, float],
    measured_s: float | None,
    customize_s: float | None,
) -> Cost | None:
    """Serving cost at the measured throughput, and the GPU hours the experiment used (its evaluation and
    latency measurement on the deployment, plus training for a customized model)."""
    if entry.status != "completed" or nim is None:
        return None
    price = gpu_hour_usd.get(nim.gpu_type)
    tps = float((latency.output_tokens_per_s if latency else None) or 0.0)
    per_1m = per_1m_output_tokens_usd(nim.gpus, price, tps) if price is not None else None
    parts: list[tuple[int, float | None]] = [(nim.gpus, (entry.duration_s or 0.0) + (measured_s or 0.0))]
    if entry.experiment == "customized" and nim.customizer is not None:
        parts.append((nim.customizer.gpus, customize_s))
    return Cost(
        per_1m_output_tokens_usd=None if per_1m is None else round(per_1m, 6),
        gpu_hours=round(gpu_hours(*parts), 6),
        gpus=nim.gpus,
        gpu_type=nim.gpu_type,
        gpu_hour_usd=price,
    )


def production_cost(
    production: ProductionConfig | None, gpu_hour_usd: Mapping[str, float], volume: TokenVolume | None
) -> Production | None:
    if production is None:
        return None
    p = production.price
    if p.per_token:
        assert p.usd_per_1m_input_tokens is not None and p.usd_per_1m_output_tokens is not None
        if volume is None or not volume.output_tokens:
            per_1m = p.usd_per_1m_output_tokens
        else:
            per_1m = production_per_1m_output_tokens_usd(
                p.usd_per_1m_input_tokens, p.usd_per_1m_output_tokens, volume.input_tokens, volume.output_tokens
            )
    else:
        assert p.gpus is not None and p.gpu_type is not None and p.output_tokens_per_s is not None
        per_1m = per_1m_output_tokens_usd(p.gpus, gpu_hour_usd.get(p.gpu_type, 0.0), p.output_tokens_per_s) or 0.0
    return Production(model_name=production.model_name, per_1m_output_tokens_usd=round(per_1m, 6))


def _measured(measured: Mapping[str, LatencyRun], e: ResultEntry) -> MeasuredLatency | None:
    run = measured.get(e.nim)
    return run.latency.get(e.experiment) if run else None


def decide(
    results: Sequence[ResultEntry],
    workload_type: str | None,
    eval_records: int | None,
    measured: Mapping[str, LatencyRun],
    customize_s: Mapping[str, float | None],
    nims: Mapping[str, NimConfig],
    gpu_hour_usd: Mapping[str, float],
    selection: SelectionConfig,
    production: ProductionConfig | None,
    volume: TokenVolume | None,
) -> tuple[list[ResultEntry], DecisionFields]:
    """The entries with their ``latency``, ``cost`` and ``ci`` filled in, and the report's decision fields."""
    entries = []
    for e in results:
        m = _measured(measured, e)
        latency = Latency.model_validate(m.model_dump(include=LATENCY_KEYS)) if m else None
        cost = entry_cost(e, latency, nims.get(e.nim), gpu_hour_usd, m.elapsed_s if m else None, customize_s.get(e.nim))
        entries.append(e.model_copy(update={"latency": latency, "cost": cost}))
    prod = production_cost(production, gpu_hour_usd, volume)
    bar = Bar(min_quality=selection.min_quality, max_p95_ms=selection.max_p95_ms)
    if not workload_type:
        note = RecommendationNote(reason="no datasets were built, so nothing was evaluated")
        fields = DecisionFields(bar=bar, production=prod, volume=volume, recommendation_note=note)
        return entries, fields  # no primary metric: the entries carry no interval key
    rec, note = recommend(
        entries,
        workload_type,
        bar,
        eval_records,
        prod.per_1m_output_tokens_usd if prod else None,
        volume.output_tokens_per_month if volume else None,
    )
    rows = comparison(entries, PRIMARY_METRIC.get(workload_type, ""), bar, eval_records)
    intervals = {(r.nim, r.experiment): r.ci for r in rows}
    entries = [e.model_copy(update={"ci": intervals.get(e.key)}) for e in entries]
    fields = DecisionFields(
        bar=bar, production=prod, volume=volume, recommendation=rec, recommendation_note=note, comparison=rows
    )
    return entries, fields
