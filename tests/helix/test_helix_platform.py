"""The ``helix`` adapter of the platform port, driven with the DAG's own NMP-shaped calls against real
Helix (the emulator stands in for the GPU cluster and the NIM): what the operators do, step by step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.localstack.helix import HelixServices
from flywheel.platforms.core.configs import customization_job, evaluation_config, evaluation_target, read_scores
from flywheel.platforms.core.latency import measure_sync
from flywheel.platforms.helix.adapter import AsyncHelixPlatform, HelixPlatform
from flywheel.platforms.helix.endpoints import HelixEndpoints
from flywheel.platforms.helix.scores import read_scores as helix_read_scores
from tests.integration.emulator.conftest import Emulator
from tests.support.waiting import wait_for
from tests.unit.emulator.records import jsonl, tool_record

from .helpers import CANDIDATE, active_jobs, client_of

pytestmark = [pytest.mark.helix, pytest.mark.integration, pytest.mark.timeout(300)]
MARKS = {"flywheel_role": "candidate", "flywheel_run": "flywheel_x/run-1", "flywheel_map_index": "0"}


def test_the_dag_calls_run_a_candidate_through_real_helix(
    helix: HelixServices, emu: Emulator, workspace: str, tmp_path: Path
) -> None:
    ep = HelixEndpoints(helix.url, workspace=workspace, gpu_url=emu.url, provider_url=emu.url, timeout_s=30)
    nim = NimConfig(model_name=CANDIDATE)
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_bytes(jsonl([tool_record(i) for i in range(8)]))
    with HelixPlatform(ep) as c, client_of(ep) as hc:
        c.ensure_namespace()
        c.ensure_namespace()  # a retried task: no error
        files_url = c.upload_dataset("flywheel-eval-x", {"eval_data.jsonl": eval_file})
        assert files_url == f"{workspace}/flywheel-eval-x"

        created = c.create_deployment(nim, MARKS)
        assert created.custom_fields == MARKS
        assert [d.name for d in c.list_deployments()] == [nim.deployment_name]

        async def served() -> None:
            """What the deferred deploy task's trigger does: READY, then listed (its provider registered)."""
            async with AsyncHelixPlatform(ep) as ac:
                for _ in range(180):
                    d = await ac.get_deployment(nim.deployment_name)
                    if d is not None and d.is_ready and CANDIDATE in await ac.list_models():
                        return
                    await asyncio.sleep(0.5)
            raise TimeoutError("candidate not served through the gateway within 90s")

        asyncio.run(served())
        info = c.get_deployment(nim.deployment_name)
        assert info is not None and info.is_ready and info.custom_fields == MARKS
        assert CANDIDATE in c.list_models()
        assert c.chat(CANDIDATE, [{"role": "user", "content": "hi"}], max_tokens=8)["choices"]

        config = evaluation_config("tool_calling", f"{files_url}/eval_data.jsonl", None, None)
        job = c.create_evaluation(config, evaluation_target(CANDIDATE), "req-1")
        assert c.create_evaluation(config, evaluation_target(CANDIDATE), "req-1") == job  # no duplicate
        assert c.find_evaluation("req-1") == job and c.find_evaluation("req-2") is None
        done = wait_for(lambda: (s := c.get_evaluation(job)).terminal and s, 180, "evaluation finished", 1.0)
        assert done.succeeded, done
        results = c.evaluation_results(job)
        assert read_scores("tool_calling", results) == helix_read_scores("tool_calling", results.raw)
        assert results.raw["row_count"] == 8

        # the customized experiment: automodel job (stand-in GPU) → adapter routed by the real gateway
        train_url = c.upload_dataset("flywheel-train-x", {"training/train.jsonl": eval_file})
        base_entity = c.ensure_customization_config(nim, TrainingConfig())
        assert base_entity == c.http.run(c.flows.served())[CANDIDATE]
        payload = customization_job(
            "wl", "run-1", nim, base_entity, train_url.split("/", 1)[1], workspace, TrainingConfig(), LoraConfig()
        )
        cust, adapter = c.create_customization(payload, "req-c")
        assert adapter.startswith(f"{base_entity}&adapters/{workspace}/")
        assert c.find_customization("req-c") == (cust, adapter)

        async def trained() -> None:
            """What the customize task's triggers do: the job completes, then its adapter is served."""
            async with AsyncHelixPlatform(ep) as ac:
                for _ in range(240):
                    if (await ac.get_customization(cust)).succeeded and adapter in await ac.list_models():
                        return
                    await asyncio.sleep(0.5)
            raise TimeoutError("adapter not routed by the gateway within 120s")

        asyncio.run(trained())
        assert adapter in c.list_models()
        assert hc.provider(cust)["model_deployment_id"] == f"{workspace}/{nim.deployment_name}"
        answered = c.chat(adapter, [{"role": "user", "content": "hi"}], max_tokens=8)
        assert answered["choices"] and answered["model"] in (
            adapter,
            f"{workspace}/{payload.output_model.split('/')[-1]}",
        )
        custom_job = c.create_evaluation(config, evaluation_target(adapter), "req-ce")
        done = wait_for(lambda: (s := c.get_evaluation(custom_job)).terminal and s, 180, "evaluation finished", 1.0)
        assert done.succeeded, done
        assert 0 < read_scores("tool_calling", c.evaluation_results(custom_job))["function_name_accuracy"] <= 1

        # latency goes through the gateway under its names, adapter included
        assert c.inference_name(CANDIDATE) == base_entity and c.inference_name(adapter) == adapter
        timed = measure_sync(ep.gateway_url, adapter, [{"messages": [{"role": "user", "content": "hi"}]}] * 4)
        assert timed.requests == 4 and timed.errors == 0

        # promotion marks the adapter on its base entity (an adapter has no entity of its own)
        fields = {"flywheel_promoted": True, "flywheel_promoted_for": "wl"}
        c.mark_model(adapter, fields)
        entity = hc.model_entity(hc.workspace, base_entity.split("/", 1)[1])
        assert entity["custom_fields"]["flywheel_adapters"] == {adapter: fields}
        assert "flywheel_promoted" not in entity["custom_fields"]  # the base model itself is not promoted

        async def watch() -> tuple[list[str], bool, bool]:
            async with AsyncHelixPlatform(ep) as ac:
                models = await ac.list_models()
                state = await ac.get_evaluation(job)
                deleted = await ac.delete_deployment(nim.deployment_name)
                return models, state.succeeded, deleted

        models, succeeded, deleted = asyncio.run(watch())
        assert CANDIDATE in models and succeeded and deleted
        assert c.get_deployment(nim.deployment_name) is None
        assert hc.provider(nim.deployment_name) is None  # our provider went with our deployment
        assert hc.provider(cust) is None  # and so did the adapter's
        assert adapter not in c.list_models()
        assert active_jobs(hc) == []
