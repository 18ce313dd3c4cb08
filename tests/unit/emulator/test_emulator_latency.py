"""The emulator's latency model: size, prompt length, output length and concurrency, per-model scale."""

from __future__ import annotations

import pytest

from flywheel.emulator.nim_logic import ServedModel, latency_ms
from flywheel.emulator.settings import LatencySettings

SMALL = ServedModel("meta/llama-3.2-1b-instruct", "meta/llama-3.2-1b-instruct")
LARGE = ServedModel("meta/llama-3.2-3b-instruct", "meta/llama-3.2-3b-instruct")
ADAPTER = ServedModel("ns/custom-1b", "meta/llama-3.2-1b-instruct", adapter=True)


def test_size_prompt_output_and_concurrency_each_slow_it_down() -> None:
    s = LatencySettings()
    base = latency_ms(SMALL, 100, 10, 1, s)
    assert base == pytest.approx(20 + 0.02 * 100 + 0.4 * 10)
    assert latency_ms(LARGE, 100, 10, 1, s) == pytest.approx(base * 3**0.75)
    assert latency_ms(SMALL, 400, 10, 1, s) > base  # an ICL prompt is longer
    assert latency_ms(SMALL, 100, 40, 1, s) > base
    assert latency_ms(SMALL, 100, 10, 4, s) == pytest.approx(base * 1.3)
    assert latency_ms(ADAPTER, 100, 10, 1, s) == pytest.approx(base)  # an adapter runs on its base model


def test_configured_scale_judges_and_off() -> None:
    s = LatencySettings(scale={LARGE.base: 2.5, SMALL.base: 1.0})
    assert latency_ms(LARGE, 50, 5, 1, s) / latency_ms(SMALL, 50, 5, 1, s) == pytest.approx(2.5)
    judge = ServedModel("meta/llama-3.3-70b-instruct", "meta/llama-3.3-70b-instruct", judge=True)
    assert latency_ms(judge, 50, 5, 1, s) == 0.0
    assert latency_ms(SMALL, 50, 5, 1, LatencySettings(enabled=False)) == 0.0
