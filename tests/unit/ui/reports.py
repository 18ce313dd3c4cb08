"""Report dicts as the `report` task returns them (docs/contracts.md#results), with and without the decision fields."""

from __future__ import annotations

from typing import Any

SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"


def entry(
    nim: str,
    exp: str,
    score: float | None,
    *,
    cost: float | None = None,
    p95: float | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    scores = (
        {}
        if score is None
        else {"function_name_accuracy": min(1.0, score + 0.05), "function_name_and_args_accuracy": score}
    )
    return {
        "nim": nim,
        "experiment": exp,
        "status": status,
        "scores": scores,
        "error": None if status == "completed" else "evaluation job failed",
        "job_id": f"job-{nim[-12:]}-{exp}" if status != "skipped" else None,
        "duration_s": 12.5,
        "latency": None
        if p95 is None
        else {"p50_ms": p95 / 2, "p95_ms": p95, "output_tokens_per_s": 50.0, "requests": 100, "errors": 0},
        "cost": None if cost is None else {"per_1m_output_tokens_usd": cost, "gpu_hours": 0.25},
    }


def decided_report() -> dict[str, Any]:
    """Issue-10 shape: latency, cost, production and a recommendation."""
    results = [
        entry(SMALL, "base", 0.55, cost=1.0, p95=200),
        entry(SMALL, "icl", 0.70, cost=1.4, p95=320),
        entry(SMALL, "customized", 0.93, cost=1.1, p95=210),
        entry(LARGE, "base", 0.80, cost=2.5, p95=400),
        entry(LARGE, "icl", 0.90, cost=3.0, p95=600),
        entry(LARGE, "customized", None, status="skipped"),
    ]
    results[-1]["error"] = "not planned for this NIM/run"
    return {
        "workload_id": "customer_service",
        "client_id": "aiva-1",
        "workload_type": "tool_calling",
        "datasets": {"eval": {"name": "e", "records": 20}},
        "results": results,
        "best": None,
        "production": {"model_name": "meta/llama-3.3-70b-instruct", "per_1m_output_tokens_usd": 9.0},
        "recommendation": {
            "nim": SMALL,
            "experiment": "customized",
            "primary_metric": "function_name_and_args_accuracy",
            "score": 0.93,
            "ci": [0.85, 0.97],
            "p95_ms": 210,
            "per_1m_output_tokens_usd": 1.1,
            "savings_per_month_usd": 1234.5,
            "min_quality": 0.9,
            "max_p95_ms": None,
            "reason": "cheapest completed experiment at or above the bar",
        },
    }


def plain_report(score_shift: float = 0.0) -> dict[str, Any]:
    """Today's shape: scores only (no latency, cost, production or recommendation keys)."""
    results = [
        entry(SMALL, "base", 0.5 + score_shift),
        entry(SMALL, "icl", 0.6 + score_shift),
        entry(LARGE, "base", 0.7 + score_shift),
        entry(LARGE, "icl", None, status="failed"),
    ]
    for r in results:
        del r["latency"], r["cost"]
    return {
        "workload_id": "customer_service",
        "client_id": "aiva-1",
        "workload_type": "tool_calling",
        "datasets": {},
        "results": results,
        "best": None,
    }
