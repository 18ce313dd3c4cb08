"""Cost per 1M output tokens, GPU hours and monthly savings (USD)."""

from __future__ import annotations

SECONDS_PER_HOUR = 3600.0


def per_1m_output_tokens_usd(gpus: int, gpu_hour_usd: float, output_tokens_per_s: float) -> float | None:
    """``gpus × gpu_hour_usd / (output_tokens_per_s × 3600) × 1e6``; None without a measured throughput."""
    if output_tokens_per_s <= 0:
        return None
    return gpus * gpu_hour_usd / (output_tokens_per_s * SECONDS_PER_HOUR) * 1e6


def gpu_hours(*parts: tuple[int, float | None]) -> float:
    """Sum of ``gpus × seconds`` over (gpus, seconds) parts, in hours; unknown durations count as 0."""
    return sum(g * (s or 0.0) for g, s in parts) / SECONDS_PER_HOUR


def production_per_1m_output_tokens_usd(
    usd_per_1m_input: float, usd_per_1m_output: float, input_tokens: int, output_tokens: int
) -> float:
    """A token-priced model's cost per 1M *output* tokens for this workload: its input price weighted by the
    workload's input/output token ratio, plus its output price (so it compares with a GPU-priced candidate)."""
    ratio = input_tokens / output_tokens if output_tokens else 0.0
    return usd_per_1m_output + usd_per_1m_input * ratio


def savings(production_per_1m: float, candidate_per_1m: float, output_tokens_per_month: float) -> float:
    """Monthly USD saved by serving the workload's output tokens with the candidate instead of production."""
    return (production_per_1m - candidate_per_1m) * output_tokens_per_month / 1e6
