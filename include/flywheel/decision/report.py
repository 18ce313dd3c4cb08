"""The decision fields of the report (docs/contracts.md#results): latency and cost per entry, production,
recommendation."""

from __future__ import annotations

from typing import Any

from flywheel.config import NimConfig, ProductionConfig, SelectionConfig
from flywheel.decision.cost import gpu_hours, per_1m_output_tokens_usd, production_per_1m_output_tokens_usd
from flywheel.decision.recommend import PRIMARY_METRIC, Bar, comparison, recommend
from flywheel.decision.volume import TokenVolume

LATENCY_KEYS = ("p50_ms", "p95_ms", "output_tokens_per_s", "requests", "errors")


def _latency(measured: dict[str, Any], nim: str, experiment: str) -> dict[str, Any] | None:
    m = ((measured.get(nim) or {}).get("latency") or {}).get(experiment)
    return {k: m.get(k) for k in LATENCY_KEYS} if isinstance(m, dict) else None


def entry_cost(
    entry: dict[str, Any],
    latency: dict[str, Any] | None,
    nim: NimConfig | None,
    gpu_hour_usd: dict[str, float],
    measured_s: float | None,
    customize_s: float | None,
) -> dict[str, Any] | None:
    """Serving cost at the measured throughput, and the GPU hours the experiment used (its evaluation and
    latency measurement on the deployment, plus training for a customized model)."""
    if entry["status"] != "completed" or nim is None:
        return None
    price = gpu_hour_usd.get(nim.gpu_type)
    tps = float((latency or {}).get("output_tokens_per_s") or 0.0)
    per_1m = per_1m_output_tokens_usd(nim.gpus, price, tps) if price is not None else None
    parts = [(nim.gpus, (entry.get("duration_s") or 0.0) + (measured_s or 0.0))]
    if entry["experiment"] == "customized" and nim.customizer is not None:
        parts.append((nim.customizer.gpus, customize_s))
    return {
        "per_1m_output_tokens_usd": None if per_1m is None else round(per_1m, 6),
        "gpu_hours": round(gpu_hours(*parts), 6),
        "gpus": nim.gpus,
        "gpu_type": nim.gpu_type,
        "gpu_hour_usd": price,
    }


def production_cost(
    production: ProductionConfig | None, gpu_hour_usd: dict[str, float], volume: TokenVolume | None
) -> dict[str, Any] | None:
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
    return {"model_name": production.model_name, "per_1m_output_tokens_usd": round(per_1m, 6)}


def decide(
    results: list[dict[str, Any]],
    workload_type: str | None,
    eval_records: int | None,
    measured: dict[str, Any],
    customize_s: dict[str, float | None],
    nims: dict[str, NimConfig],
    gpu_hour_usd: dict[str, float],
    selection: SelectionConfig,
    production: ProductionConfig | None,
    volume: TokenVolume | None,
) -> dict[str, Any]:
    """Fill each entry's ``latency`` and ``cost`` (in place) and return the report's decision fields."""
    for e in results:
        e["latency"] = _latency(measured, e["nim"], e["experiment"])
        m = ((measured.get(e["nim"]) or {}).get("latency") or {}).get(e["experiment"]) or {}
        e["cost"] = entry_cost(
            e, e["latency"], nims.get(e["nim"]), gpu_hour_usd, m.get("elapsed_s"), customize_s.get(e["nim"])
        )
    prod = production_cost(production, gpu_hour_usd, volume)
    bar = Bar(selection.min_quality, selection.max_p95_ms)
    out: dict[str, Any] = {
        "bar": {"min_quality": bar.min_quality, "max_p95_ms": bar.max_p95_ms},
        "production": prod,
        "volume": volume.as_dict() if volume else None,
        "recommendation": None,
        "recommendation_note": None,
        "comparison": [],
    }
    if not workload_type:
        out["recommendation_note"] = {"reason": "no datasets were built, so nothing was evaluated", "closest": None}
        return out
    rec, note = recommend(
        results,
        workload_type,
        bar,
        eval_records,
        prod["per_1m_output_tokens_usd"] if prod else None,
        volume.output_tokens_per_month if volume else None,
    )
    rows = comparison(results, PRIMARY_METRIC.get(workload_type, ""), bar, eval_records)
    intervals = {(r["nim"], r["experiment"]): r["ci"] for r in rows}
    for e in results:
        e["ci"] = intervals.get((e["nim"], e["experiment"]))
    out.update(recommendation=rec, recommendation_note=note, comparison=rows)
    return out
