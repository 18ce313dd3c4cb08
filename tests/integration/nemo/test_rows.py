"""Per-row results on NMP 25.x (the emulator's Evaluator): the result archive the platform serves at
``download-results``, fetched with NVIDIA's SDK and validated by its models, read by the sync and the
async client into the same rows, whose means are the aggregates the results answer reports."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from flywheel.platforms.core.configs import evaluation_config, evaluation_target, judge_ref, read_scores
from flywheel.platforms.nmp.aclient import AsyncNemoClient

from .conftest import Emulator, fast_policy
from .records import TOOLS as TOOL_SPECS
from .records import classification_record, tool_record
from .test_client_emulator import NIM, deploy, quick, upload
from .waits import wait_job

JUDGE = judge_ref("local", "meta/llama-3.3-70b-instruct", None, None)
TOOLS = {t["function"]["name"] for t in TOOL_SPECS}


def _sdk_results(emulator: Emulator, job: str) -> dict[str, Any]:
    """``results.json`` as the vendor SDK downloads it; every per-item metric validated by its models."""
    from nemo_microservices import NeMoMicroservices
    from nemo_microservices.types.metric_result import MetricResult

    with NeMoMicroservices(base_url=emulator.url, _strict_response_validation=True, max_retries=0) as sdk:
        archive = sdk.evaluation.jobs.download_results(job).read()
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith("results.json")]
        data: dict[str, Any] = json.loads(zf.read(name))
    for records in data.values():
        for record in records:
            assert set(record) >= {"item", "sample", "metrics"}
            for metric in record["metrics"].values():
                MetricResult.model_validate(metric, strict=True)
    return data


def test_tool_calling_rows_match_the_aggregates_and_carry_tool_slices(emulator: Emulator, tmp_path: Path) -> None:
    with emulator.client() as c:
        urls = upload(c, tmp_path, tool_record, "rows")
        deploy(c)
        spec = evaluation_config("tool_calling", f"{urls['eval']}/eval_data.jsonl", JUDGE, 12)
        job = c.create_evaluation(spec, evaluation_target(NIM.model_name))
        wait_job(c, "evaluation", job, timeout_s=30, backoff=quick())
        scores = read_scores("tool_calling", c.evaluation_results(job))
        rows = c.evaluation_rows(job)
    data = _sdk_results(emulator, job)
    assert len(data["custom-tool-calling"]) == len(rows) == 12
    assert [r.row_id for r in rows] == [str(i) for i in range(12)]
    assert {r.slice for r in rows} <= TOOLS and len({r.slice for r in rows}) == 3
    for key, score in (
        ("tool-calling-accuracy.function_name_accuracy", "function_name_accuracy"),
        ("tool-calling-accuracy.function_name_and_args_accuracy", "function_name_and_args_accuracy"),
        ("correctness.rating", "correctness"),
    ):
        values = [r.scores[key] for r in rows]
        assert all(v is not None for v in values)
        # every number is recomputable from the rows
        assert mean(v for v in values if v is not None) == pytest.approx(scores[score])

    async def read_async() -> list[Any]:
        async with AsyncNemoClient(emulator.endpoints(), policy=fast_policy(2)) as ac:
            return await ac.evaluation_rows(job)

    assert asyncio.run(read_async()) == rows


def test_classification_rows_carry_the_class(emulator: Emulator, tmp_path: Path) -> None:
    with emulator.client() as c:
        urls = upload(c, tmp_path, classification_record, "rowsc")
        deploy(c)
        spec = evaluation_config("classification", f"{urls['eval']}/eval_data.jsonl", None, 8)
        job = c.create_evaluation(spec, evaluation_target(NIM.model_name))
        wait_job(c, "evaluation", job, timeout_s=30, backoff=quick())
        accuracy = read_scores("classification", c.evaluation_results(job))["accuracy"]
        rows = c.evaluation_rows(job)
    _sdk_results(emulator, job)
    assert len(rows) == 8 and all(r.slice and not r.slice.startswith("[[") for r in rows)
    assert mean(r.scores["f1.accuracy"] or 0.0 for r in rows) == pytest.approx(accuracy)
