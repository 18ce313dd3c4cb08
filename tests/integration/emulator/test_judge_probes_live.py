"""Judge checks against the emulator's judge over HTTP, asked exactly as an evaluation asks it (the judge
metric's prompt rendered with the probe as item and sample, the reply read with the metric's parser): the
demo's judge passes its probes on the judge-scored sample workload; under ``judge_always_top`` the same
probes withhold the recommendation with a reason naming the judge."""

from __future__ import annotations

import re

import pytest
from jinja2.sandbox import SandboxedEnvironment

from flywheel.decision.judge_checks import JudgeFn, Probe, build_probes, check_judge, item_from_record, run_probes
from flywheel.platforms.core.configs import SIMILARITY_PATTERN, SIMILARITY_SYSTEM, SIMILARITY_USER
from flywheel.sampledata import generate

from .conftest import Emulator

pytestmark = pytest.mark.integration
JUDGE = "meta/llama-3.3-70b-instruct"


def _judge(emu: Emulator) -> JudgeFn:
    env = SandboxedEnvironment()

    def score(probe: Probe) -> float | None:
        prompt = env.from_string(SIMILARITY_USER).render(item=probe.item(), sample=probe.sample())
        messages = [{"role": "system", "content": SIMILARITY_SYSTEM}, {"role": "user", "content": prompt}]
        reply = emu.call("POST", "/v1/chat/completions", json={"model": JUDGE, "messages": messages})
        found = re.search(SIMILARITY_PATTERN, reply["choices"][0]["message"]["content"])
        return (int(found.group(1)) - 1) / 9 if found else None

    return score


def test_the_demo_judge_passes_and_a_broken_one_is_withheld(emu: Emulator) -> None:
    records = generate("support", 80, seed=42, bad_fraction=0.0, duplicate_fraction=0.0)
    items = [item_from_record(f"row-{i}", r) for i, r in enumerate(records) if isinstance(r, dict)]
    probes = build_probes([i for i in items if i is not None], rows=10, seed=0)

    good = check_judge(JUDGE, run_probes(probes, _judge(emu)), min_agreement=0.8)
    assert good.trusted and good.passed == good.probes == len(probes), good

    emu.faults([{"kind": "judge_always_top", "model": JUDGE}])
    broken = check_judge(JUDGE, run_probes(probes, _judge(emu)), min_agreement=0.8)
    assert not broken.trusted and broken.passed == sum(p.expect_high for p in probes)
    assert broken.reason == (
        f"withhold: judge {JUDGE} failed its probes ({broken.passed}/{len(probes)}; selection.min_judge_agreement 0.8)"
    )
