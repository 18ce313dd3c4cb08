"""The emulator's latency model measured through the flywheel's async measurer (real HTTP, real sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.platforms.core.latency import measure_sync
from tests.unit.emulator.records import tool_record, with_icl

from .conftest import FAST, run_emulator, wait_for
from .seed import deploy, deployment_status, seed_workload

pytestmark = pytest.mark.integration
NS = "latency"
SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"
RATIO = 2.5  # configured 3B / 1B latency scale


def test_measured_latency_follows_the_configured_model(tmp_path: Path) -> None:
    # prompt tokens weigh enough that the ICL prompts' extra time stands above loopback jitter (seen equal in CI)
    latency = {"base_ms": 30.0, "ms_per_prompt_token": 0.3, "scale": {SMALL: 1.0, LARGE: RATIO}}
    with run_emulator(tmp_path, {**FAST, "latency": latency}) as emu:
        records = [tool_record(i) for i in range(40)]
        seed_workload(emu, NS, records)
        deploy(emu, NS, SMALL)
        deploy(emu, NS, LARGE)
        wait_for(lambda: deployment_status(emu, NS, SMALL) == deployment_status(emu, NS, LARGE) == "ready")
        prompts = [{"messages": r["request"]["messages"], "tools": r["request"]["tools"]} for r in records[:24]]
        icl = [{"messages": with_icl(r)["request"]["messages"]} for r in records[:24]]
        kw = {"concurrency": 4, "max_seconds": 30}
        small = measure_sync(emu.url, SMALL, prompts, **kw)
        large = measure_sync(emu.url, LARGE, prompts, **kw)
        small_icl = measure_sync(emu.url, SMALL, icl, **kw)
        for r in (small, large, small_icl):
            assert (r.requests, r.errors) == (24, 0), r
            assert r.p50_ms and r.p95_ms and r.p50_ms <= r.p95_ms and r.output_tokens_per_s > 0
        # A sleep never ends early, so each median is at least its model's modelled time, however loaded the
        # machine (a comparison of measured times is not: loopback and scheduling delays add to both sides).
        # The exact formula is the unit test's (tests/unit/emulator/test_emulator_latency.py).
        words = min(sum(len(str(m.get("content") or "").split()) for m in p["messages"]) for p in icl)
        base_ms = latency["base_ms"]
        assert small.p50_ms >= base_ms and large.p50_ms >= RATIO * base_ms, (small, large)
        assert small_icl.p50_ms >= base_ms + latency["ms_per_prompt_token"] * words, small_icl


def test_the_measurement_is_bounded_in_time(tmp_path: Path) -> None:
    with run_emulator(tmp_path, {**FAST, "latency": {"base_ms": 400.0}}) as emu:
        records = [tool_record(i) for i in range(8)]
        seed_workload(emu, NS, records, n_eval=8)
        deploy(emu, NS, SMALL)
        wait_for(lambda: deployment_status(emu, NS, SMALL) == "ready")
        prompts = [{"messages": r["request"]["messages"]} for r in records] * 5
        r = measure_sync(emu.url, SMALL, prompts, concurrency=2, max_seconds=1.5)
        assert r.elapsed_s < 3.0, r
        assert r.requests < len(prompts) and r.errors >= 1, r  # stopped early; the cancelled in-flight count


def test_an_unknown_model_counts_errors_not_latencies(tmp_path: Path) -> None:
    with run_emulator(tmp_path, FAST) as emu:
        r = measure_sync(emu.url, "meta/not-deployed", [{"messages": [{"role": "user", "content": "hi"}]}] * 3)
        assert (r.requests, r.errors, r.p50_ms, r.output_tokens_per_s) == (3, 3, None, 0.0)
