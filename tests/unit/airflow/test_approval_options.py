"""The approval form: options from the report's candidates, and the markdown body."""

from __future__ import annotations

from flywheel.airflow.approval import REJECT, body, choices
from flywheel.run.models import Report

REPORT_JSON = {
    "workload_id": "cs",
    "production": {"model_name": "big/one", "per_1m_output_tokens_usd": 0.9},
    "recommendation": {
        "nim": "m/1b",
        "experiment": "customized",
        "primary_metric": "f1",
        "score": 0.8,
        "ci": [0.7, 0.88],
        "p95_ms": 42.0,
        "per_1m_output_tokens_usd": 0.1,
        "savings_per_month_usd": 120.5,
        "min_quality": 0.75,
        "max_p95_ms": None,
        "reason": "cheapest",
    },
    "comparison": [
        {
            "nim": "m/1b",
            "experiment": "base",
            "score": 0.5,
            "ci": None,
            "p95_ms": 40.0,
            "per_1m_output_tokens_usd": 0.1,
            "meets_bar": False,
            "why_not": "f1 0.500 < 0.75",
        },
        {
            "nim": "m/1b",
            "experiment": "customized",
            "score": 0.8,
            "ci": [0.7, 0.88],
            "p95_ms": 42.0,
            "per_1m_output_tokens_usd": 0.1,
            "meets_bar": True,
            "why_not": None,
        },
    ],
}
REPORT = Report.model_validate(REPORT_JSON)


def test_recommendation_first_then_other_completed_candidates_then_reject() -> None:
    c = choices(REPORT)
    assert list(c) == ["Approve: m/1b · customized", "Promote instead: m/1b · base", REJECT]
    assert c["Promote instead: m/1b · base"] == ("m/1b", "base") and c[REJECT] is None


def test_body_shows_recommendation_costs_and_every_candidate() -> None:
    text = body(REPORT)
    assert "`m/1b` (customized)" in text and "$120.5000 per month" in text and "$0.9000" in text
    assert "| `m/1b` | base | 0.500 | — |" in text and "no (f1 0.500 < 0.75)" in text
