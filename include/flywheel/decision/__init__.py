"""The decision (docs/contracts.md#results): intervals, cost, token volume and the recommendation.

Pure and Airflow-free."""

from flywheel.decision.cost import gpu_hours, per_1m_output_tokens_usd, production_per_1m_output_tokens_usd, savings
from flywheel.decision.intervals import score_interval, wilson_interval
from flywheel.decision.recommend import PRIMARY_METRIC, recommend
from flywheel.decision.volume import TokenVolume, token_volume

__all__ = [
    "PRIMARY_METRIC",
    "TokenVolume",
    "gpu_hours",
    "per_1m_output_tokens_usd",
    "production_per_1m_output_tokens_usd",
    "recommend",
    "savings",
    "score_interval",
    "token_volume",
    "wilson_interval",
]
