"""The Helix adapter against the REAL Helix services (workspaces, filesets, providers, gateway, evaluations,
jobs); the flywheel emulator stands in only for the GPU cluster (NIM answers, v2 deployments, automodel)."""

from __future__ import annotations

import httpx
import pytest
from sklearn.metrics import f1_score

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.localstack.helix import HelixServices
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.client import HelixClient
from flywheel.platforms.helix.scores import aggregates, label, read_scores
from tests.integration.emulator.conftest import Emulator
from tests.support.waiting import wait_for
from tests.unit.emulator.records import classification_record, generic_record, tool_record

from .helpers import (
    CANDIDATE,
    JUDGE,
    MARKS,
    active_jobs,
    customization_output,
    delete_fileset,
    deploy_candidate,
    health,
    list_files,
    seed_eval,
    serve,
)

pytestmark = [pytest.mark.helix, pytest.mark.integration]


def test_workspace_and_filesets_give_references(client: HelixClient) -> None:
    assert health(client)
    assert client.ensure_workspace()["name"] == client.workspace  # second create: read back, no error
    ref = client.upload_files("train", {"training/part-0.jsonl": b'{"a": 1}\n', "validation/part-0.jsonl": b"{}\n"})
    assert ref == f"{client.workspace}/train"
    assert client.upload("train", "extra.jsonl", b"{}\n") == f"{client.workspace}/train#extra.jsonl"
    assert list_files(client, "train") == ["extra.jsonl", "training/part-0.jsonl", "validation/part-0.jsonl"]
    assert delete_fileset(client, "train") and not delete_fileset(client, "train")


def test_candidate_deployed_then_served_through_the_gateway(client: HelixClient, emu: Emulator) -> None:
    dep, seen = deploy_candidate(client)
    assert dep.is_ready and dep.custom_fields == MARKS
    assert seen[0] == "CREATED" and seen[-1] == "READY" and set(seen) <= {"CREATED", "PENDING", "READY"}
    entity = serve(client, emu, [CANDIDATE])[CANDIDATE]
    assert entity == f"{client.workspace}/{P.entity_name(CANDIDATE)}"
    messages = [{"role": "user", "content": "Where is my order 1234?"}]
    reply = client.chat(entity, messages)
    direct = httpx.post(f"{emu.url}/v1/chat/completions", json={"model": CANDIDATE, "messages": messages}).json()
    assert reply["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]
    assert emu.stats()["requests"]["nim.chat"] >= 2  # the gateway's call reached the NIM stand-in


def test_evaluations_are_executed_by_real_helix(client: HelixClient, emu: Emulator, helix) -> None:
    deploy_candidate(client)
    entities = serve(client, emu, [CANDIDATE, JUDGE])
    target, judge = client.target(entities[CANDIDATE]), client.target(entities[JUDGE])
    records = {
        "generic": [generic_record(i) for i in range(8)],
        "tool_calling": [tool_record(i) for i in range(8)],
        "classification": [classification_record(i) for i in range(8)],
    }
    chats_before = emu.stats()["requests"].get("nim.chat", 0)
    jobs = {}
    for wt, rows in records.items():
        dataset = seed_eval(client, emu, P.helix_name("eval", wt), rows)
        spec = P.evaluation_spec(wt, dataset, target, judge, None)
        jobs[wt] = client.start_evaluation(P.evaluation_job(P.helix_name("eval", wt, "base"), spec, MARKS))
    states = wait_for(
        lambda: (
            (s := {wt: client.evaluation_state(j) for wt, j in jobs.items()})
            and all(x.terminal for x in s.values())
            and s
        ),
        240,
        "three Helix evaluation jobs finished",
        interval=1.0,
    )
    assert {wt: s.status for wt, s in states.items()} == dict.fromkeys(jobs, "completed"), states

    jobs_api = f"{helix.url}/apis/jobs/v2/workspaces/{client.workspace}/jobs"
    for wt, name in jobs.items():
        # Helix's own jobs service ran it, against our candidate, over every row
        assert httpx.get(f"{jobs_api}/{name}").json()["status"] == "completed"
        result = client.eval_result(name)
        assert result["target_name"] == entities[CANDIDATE] and result["row_count"] == len(records[wt])
        means = {k: v["mean"] for k, v in aggregates(result).items()}
        rows = client.row_scores(name) if wt == "classification" else None
        ours = read_scores(wt, result, rows)
        if wt == "generic":
            assert ours == {"similarity": pytest.approx((means["llm-judge.similarity"] - 1) / 9)}
        elif wt == "tool_calling":
            assert ours == {
                "function_name_accuracy": means["tool-calling.function_name_accuracy"],
                "function_name_and_args_accuracy": means["tool-calling.function_name_and_args_accuracy"],
                "correctness": means["llm-judge.rating"],
            }
            assert ours["function_name_accuracy"] > 0  # the candidate answered the eval prompts with tool calls
            # the stand-in judge rates each row (a wrong call gets 0), like Helix's own name+args comparison
            assert ours["correctness"] == ours["function_name_and_args_accuracy"]
        else:
            assert rows is not None and len(rows) == len(records[wt])
            truth = [label(r["item"]["response"]["choices"][0]["message"]["content"]) for r in rows]
            pred = [label(r["sample"]["output_text"]) for r in rows]
            assert ours["accuracy"] == pytest.approx(means["exact-match.exact-match"])
            assert ours["f1"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
            assert ours["accuracy"] > 0
    assert emu.stats()["requests"]["nim.chat"] - chats_before >= sum(len(r) for r in records.values())
    assert active_jobs(client) == []


def test_cancel_and_teardown_leave_nothing_behind(client: HelixClient, emu: Emulator) -> None:
    dep, _ = deploy_candidate(client)
    entity = serve(client, emu, [CANDIDATE])[CANDIDATE]
    dataset = seed_eval(client, emu, "eval", [tool_record(i) for i in range(40)])
    spec = P.evaluation_spec("tool_calling", dataset, client.target(entity), None, None)
    evaluation = client.start_evaluation(P.evaluation_job("eval-to-cancel", spec, MARKS))
    train = client.upload_files("train", {"training/part-0.jsonl": b"{}\n"})
    job = P.automodel_job(
        "lora-to-cancel", entity, train, None, "adapter-1", TrainingConfig(epochs=50), LoraConfig(), MARKS
    )
    customization = client.start_customization(job)

    # the LoRA job first: cancelling a still `created` evaluation waits (up to 15 s) for Helix's scheduler,
    # and the stand-in's 2 s training would be over by then
    assert client.cancel_customization(customization).status == "cancelled"
    assert client.cancel_evaluation(evaluation).status in ("cancelling", "cancelled")
    wait_for(lambda: client.evaluation_state(evaluation).status == "cancelled", 60, "evaluation cancelled", 0.5)
    assert client.cancel_evaluation(evaluation).status == "cancelled"  # cancelling a finished job: no error
    assert client.cancel_evaluation("no-such-job") is None

    # someone else's deployment and provider in the same workspace are left alone
    foreign = P.deployment_config_body(NimConfig(model_name="meta/llama-3.1-8b-instruct"), "not-ours", {}, lora=False)
    foreign["description"] = "created by another team"
    client.create_deployment(foreign, "not-ours")
    client.register_provider({"name": "not-ours", "host_url": emu.url, "enabled_models": [CANDIDATE]})
    assert not client.delete_deployment("not-ours") and not client.delete_provider("not-ours")

    assert client.delete_deployment(dep.name) and client.delete_provider("flywheel-emulator")
    for fileset in ("eval", "train"):
        assert delete_fileset(client, fileset)

    assert active_jobs(client) == []
    assert [d.name for d in client.deployments()] == ["not-ours"]
    assert {p["name"] for p in client.providers()} == {"not-ours"}
    assert emu.stats()["jobs"]["customization"] == {"cancelled": 1}


def P_nim(model: str):
    from flywheel.config import NimConfig

    return NimConfig(model_name=model)


def test_automodel_lora_job_runs_to_an_adapter(client: HelixClient) -> None:
    dep, _ = deploy_candidate(client)
    model = f"{client.workspace}/{P.entity_name(CANDIDATE)}"
    train = client.upload_files("train", {"training/part-0.jsonl": b"{}\n", "validation/part-0.jsonl": b"{}\n"})
    body = P.automodel_job("lora-1", model, train, train, "adapter-1", TrainingConfig(), LoraConfig(), MARKS)
    assert client.start_customization(body) == "lora-1" == client.start_customization(body)  # retried: same job
    seen: list[str] = []

    def done() -> bool:
        state = client.customization_state("lora-1")
        if not seen or seen[-1] != state.raw["status"]:
            seen.append(str(state.raw["status"]))
        return state.terminal

    wait_for(done, 30, "automodel job finished", 0.02)
    assert seen[-1] == "completed" and "active" in seen and set(seen) <= {"created", "pending", "active", "completed"}
    assert customization_output(client, "lora-1") == f"{model}&adapters/{client.workspace}/adapter-1"
    job = client.customization("lora-1")
    assert job["custom_fields"] == MARKS and job["spec"]["training"]["lora"]["rank"] == LoraConfig().adapter_dim
    assert client.delete_deployment(dep.name)


async def test_async_client_watches_and_cancels_like_the_sync_one(
    client: HelixClient, emu: Emulator, helix: HelixServices
) -> None:
    import asyncio

    from flywheel.platforms.core.http import AsyncHttp
    from flywheel.platforms.core.retry import RetryPolicy

    dep, _ = deploy_candidate(client)
    model = f"{client.workspace}/{P.entity_name(CANDIDATE)}"
    train = client.upload_files("train", {"training/part-0.jsonl": b"{}\n"})
    job = P.automodel_job("lora-async", model, train, None, "a", TrainingConfig(epochs=50), LoraConfig(), MARKS)
    client.start_customization(job)
    ops = client.ops  # the same operations, driven over the async transport
    ahttp = AsyncHttp(30.0, RetryPolicy())
    try:
        found = await ahttp.run(ops.deployment(dep.name))
        assert found is not None and found.is_ready and found.custom_fields == MARKS
        assert await ahttp.run(ops.deployment("no-such-deployment")) is None
        for _ in range(100):
            if (await ahttp.run(ops.customization_state("lora-async"))).status == "running":
                break
            await asyncio.sleep(0.05)
        cancelled = await ahttp.run(ops.cancel_customization("lora-async"))
        assert cancelled is not None and cancelled.status == "cancelled" and cancelled.terminal
        assert (await ahttp.run(ops.customization_state("lora-async"))).status == "cancelled"
        assert await ahttp.run(ops.cancel_evaluation("no-such-job")) is None
        assert await ahttp.run(ops.delete_deployment(dep.name))
        assert not await ahttp.run(ops.delete_deployment(dep.name))
    finally:
        await ahttp.close()
    assert client.deployments() == []
