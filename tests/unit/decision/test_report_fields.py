"""The report's decision fields from entries, measurements, config prices and the log volume."""

from __future__ import annotations

import pytest

from flywheel.config import CustomizerConfig, NimConfig, ProductionConfig, ProductionPrice, SelectionConfig
from flywheel.decision import TokenVolume
from flywheel.decision.report import decide, production_cost
from flywheel.run.models import LatencyRun, ResultEntry

SMALL = NimConfig(
    model_name="m/small-1b",
    gpu_type="L40S",
    customization_enabled=True,
    customizer=CustomizerConfig(target="m/small-1b@2.0", gpus=2),
)
LARGE = NimConfig(model_name="m/large-3b", gpus=2, gpu_type="H100")
PRICES = {"L40S": 1.0, "H100": 3.0}
VOLUME = TokenVolume(100, 30_000, 10_000, 1.0, 300_000.0, 900_000.0)
TOKEN_PRICED = ProductionConfig(
    model_name="p/big", price=ProductionPrice(usd_per_1m_input_tokens=1.0, usd_per_1m_output_tokens=2.0)
)


def entry(nim: str, exp: str, status: str, score: float | None, duration_s: float | None = 360.0) -> dict:
    return {
        "nim": nim,
        "experiment": exp,
        "status": status,
        "scores": {} if score is None else {"f1": score},
        "error": None,
        "job_id": f"job-{nim}-{exp}",
        "duration_s": duration_s,
    }


def decided(results: list[dict], *args: object) -> tuple[list[dict], dict]:
    """``decide`` on entries as XCom carries them; the entries and fields back as the report's JSON."""
    entries, fields = decide([ResultEntry.model_validate(r) for r in results], *args)  # type: ignore[arg-type]
    return [e.to_json() for e in entries], fields.model_dump(mode="json")


def measured(tps: float, experiments: tuple[str, ...] = ("base", "customized"), elapsed: float = 36.0) -> LatencyRun:
    lat = {"p50_ms": 40.0, "p95_ms": 80.0, "output_tokens_per_s": tps, "requests": 20, "errors": 0}
    return LatencyRun.model_validate({"latency": {exp: {**lat, "elapsed_s": elapsed} for exp in experiments}})


def test_latency_cost_production_and_recommendation() -> None:
    results = [
        entry(SMALL.model_name, "base", "completed", 0.5),
        entry(SMALL.model_name, "customized", "completed", 0.8),
        entry(LARGE.model_name, "base", "completed", 0.85),
        entry(LARGE.model_name, "customized", "skipped", None, None),
    ]
    results, out = decided(
        results,
        "classification",
        50,
        {SMALL.model_name: measured(1000.0), LARGE.model_name: measured(500.0, ("base",))},
        {SMALL.model_name: 1800.0},
        {n.model_name: n for n in (SMALL, LARGE)},
        PRICES,
        SelectionConfig(min_quality=0.75),
        TOKEN_PRICED,
        VOLUME,
    )
    small_custom, large_base, skipped = results[1], results[2], results[3]
    # 1 GPU × $1/h over 3.6M tokens/h; eval 360 s + 36 s measuring on 1 GPU, training 1800 s on 2 GPUs
    assert small_custom["cost"]["per_1m_output_tokens_usd"] == pytest.approx(1 / 3.6)
    assert small_custom["cost"]["gpu_hours"] == pytest.approx((396 + 3600) / 3600)
    assert large_base["cost"]["per_1m_output_tokens_usd"] == pytest.approx(2 * 3 / 1.8)
    assert small_custom["latency"] == {
        "p50_ms": 40.0,
        "p95_ms": 80.0,
        "output_tokens_per_s": 1000.0,
        "requests": 20,
        "errors": 0,
    }
    assert skipped["latency"] is None and skipped["cost"] is None
    assert out["production"] == {"model_name": "p/big", "per_1m_output_tokens_usd": pytest.approx(2.0 + 1.0 * 3)}
    rec = out["recommendation"]
    assert (rec["nim"], rec["experiment"]) == (SMALL.model_name, "customized")
    assert rec["savings_per_month_usd"] == pytest.approx(round((5.0 - 1 / 3.6) * 0.3, 2))
    assert [r["meets_bar"] for r in out["comparison"]] == [False, True, True]
    assert out["volume"]["output_tokens_per_month"] == 300_000.0


def test_missing_measurement_and_no_datasets() -> None:
    results, out = decided(
        [entry(SMALL.model_name, "base", "completed", 0.9)],
        "classification",
        50,
        {},
        {},
        {SMALL.model_name: SMALL},
        PRICES,
        SelectionConfig(),
        None,
        None,
    )
    assert results[0]["latency"] is None and results[0]["cost"]["per_1m_output_tokens_usd"] is None
    assert out["production"] is None and out["recommendation"]["savings_per_month_usd"] is None
    _, none = decided([], None, None, {}, {}, {}, PRICES, SelectionConfig(), None, None)
    assert none["recommendation"] is None and "no datasets" in none["recommendation_note"]["reason"]


def test_gpu_priced_production() -> None:
    prod = ProductionConfig(
        model_name="self/hosted", price=ProductionPrice(gpus=8, gpu_type="H100", output_tokens_per_s=2000)
    )
    gpu_priced, token_priced = production_cost(prod, PRICES, None), production_cost(TOKEN_PRICED, PRICES, None)
    assert gpu_priced is not None and gpu_priced.per_1m_output_tokens_usd == pytest.approx(8 * 3 / 7.2)
    assert token_priced is not None and token_priced.per_1m_output_tokens_usd == 2.0  # no volume: output only
