"""Per-row results on real Helix: the adapter's ``evaluation_rows`` equal Helix's own row scores (read here
straight from Helix's REST answer), carry each row's slice and the judge's own words, and average to
the aggregates Helix reports."""

from __future__ import annotations

import json
from statistics import mean
from typing import Any

import httpx
import pytest

from flywheel.localstack.helix import HelixServices
from flywheel.platforms.core.configs import evaluation_config, evaluation_target, judge_ref
from flywheel.platforms.core.slices import label
from flywheel.platforms.core.states import JobState
from flywheel.platforms.helix.adapter import HelixPlatform
from flywheel.platforms.helix.endpoints import HelixEndpoints
from flywheel.platforms.helix.scores import NEUTRAL, aggregates
from tests.integration.emulator.conftest import Emulator
from tests.support.waiting import wait_for
from tests.unit.emulator.records import classification_record, tool_record

from .helpers import CANDIDATE, JUDGE, client_of, deploy_candidate, seed_eval, serve

pytestmark = [pytest.mark.helix, pytest.mark.integration, pytest.mark.timeout(420)]


def _finished(c: HelixPlatform, job: str) -> JobState:
    return wait_for(lambda: (s := c.get_evaluation(job)).terminal and s, 240, f"evaluation {job} finished", 0.5)


def _helix_rows(helix: HelixServices, ws: str, job: str) -> list[dict[str, Any]]:
    url = f"{helix.url}/apis/evals/v2/workspaces/{ws}/evaluate/jobs/{job}/results/row-scores/download"
    reply = httpx.get(url, timeout=30)
    reply.raise_for_status()
    return [json.loads(line) for line in reply.text.splitlines() if line.strip()]


def _helix_means(helix: HelixServices, ws: str, job: str) -> dict[str, float]:
    result = httpx.get(f"{helix.url}/apis/evals/v2/workspaces/{ws}/eval-results/{job}", timeout=30).json()
    return {name: float(s["mean"]) for name, s in aggregates(result).items()}


def test_our_rows_are_helixs_rows(helix: HelixServices, emu: Emulator, workspace: str) -> None:
    ep = HelixEndpoints(helix.url, workspace=workspace, gpu_url=emu.url, provider_url=emu.url, timeout_s=30)
    with HelixPlatform(ep) as c, client_of(ep) as hc:
        c.ensure_namespace()
        deploy_candidate(hc)
        serve(hc, emu, [CANDIDATE, JUDGE])
        tools = seed_eval(hc, emu, "eval-rows-tools", [tool_record(i) for i in range(8)])
        classes = seed_eval(hc, emu, "eval-rows-classes", [classification_record(i) for i in range(8)])
        judge = judge_ref("local", JUDGE, None, None)
        jobs = {
            "tool_calling": c.create_evaluation(
                evaluation_config("tool_calling", f"{tools}/eval_data.jsonl", judge, None),
                evaluation_target(CANDIDATE),
                "rows-tools",
            ),
            "classification": c.create_evaluation(
                evaluation_config("classification", f"{classes}/eval_data.jsonl", None, None),
                evaluation_target(CANDIDATE),
                "rows-classes",
            ),
        }
        for job in jobs.values():
            assert _finished(c, job).succeeded
        ours = {wt: c.evaluation_rows(job) for wt, job in jobs.items()}

    for wt, job in jobs.items():
        theirs = sorted(_helix_rows(helix, workspace, job), key=lambda r: r["row_index"])
        rows = ours[wt]
        assert [r.row_id for r in rows] == [str(t["row_index"]) for t in theirs]
        for row, their in zip(rows, theirs, strict=True):
            values = {f"{m}.{o['name']}": o["value"] for m, outs in their["metrics"].items() for o in outs}
            expected = {".".join(NEUTRAL.get(k, tuple(k.split(".", 1)))): float(v) for k, v in values.items()}
            assert row.scores == expected, (wt, their["row_index"])
            reference = their["item"]["response"]["choices"][0]["message"]
            if wt == "tool_calling":
                assert row.slice == "+".join(call["function"]["name"] for call in reference["tool_calls"])
                assert row.judge_answer is not None and "RATING" in row.judge_answer
            else:
                assert row.slice == label(reference["content"]) and row.judge_answer is None
        # every aggregate is the mean of the rows
        for name, value in _helix_means(helix, workspace, job).items():
            key = ".".join(NEUTRAL[name])
            assert mean(r.scores[key] or 0.0 for r in rows) == pytest.approx(value), (wt, name)
    slices = sorted({str(r.slice) for r in ours["tool_calling"]})
    print(f"\nHelix rows: {sum(map(len, ours.values()))} rows read back, tool slices {slices}")
