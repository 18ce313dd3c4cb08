"""A rollout step's verdict from its figures: keep going, or roll back and say why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flywheel.serving.observe import StepStats


@dataclass(frozen=True)
class Limits:
    min_agreement: float
    max_error_rate: float
    max_p95_ms: float | None
    min_requests: int


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None
    requests: int
    errors: int
    error_rate: float
    p95_ms: float | None
    agreement: float | None
    compared: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def judge(stats: StepStats | None, agreement: float | None, compared: int, limits: Limits) -> Verdict:
    """The first limit broken names the reason; no figure at all (no traffic, nothing compared) is a reason
    too: a step must not pass on no evidence."""
    reasons = []
    if stats is not None:
        if stats.requests < limits.min_requests:
            reasons.append(f"only {stats.requests} candidate request(s) observed, {limits.min_requests} needed")
        if stats.requests and stats.error_rate > limits.max_error_rate:
            reasons.append(
                f"error rate {stats.error_rate:.1%} ({stats.errors}/{stats.requests}) > {limits.max_error_rate:.1%}"
            )
        if limits.max_p95_ms is not None and stats.p95_ms is not None and stats.p95_ms > limits.max_p95_ms:
            reasons.append(f"p95 latency {stats.p95_ms:.0f} ms > {limits.max_p95_ms:g} ms")
    if agreement is None:
        reasons.append("no answer could be compared with the incumbent's")
    elif agreement < limits.min_agreement:
        reasons.append(
            f"agreement with the incumbent {agreement:.3f} on {compared} request(s) < {limits.min_agreement:g}"
        )
    s = stats or StepStats(0, 0, None)
    return Verdict(
        ok=not reasons,
        reason="; ".join(reasons) or None,
        requests=s.requests,
        errors=s.errors,
        error_rate=s.error_rate,
        p95_ms=s.p95_ms,
        agreement=agreement,
        compared=compared,
    )
