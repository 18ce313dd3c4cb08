"""Drive the running emulator with NVIDIA's own SDK, validating every response against its typed models."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.emulator.records import tool_calling_config, tool_record

from .conftest import Emulator, wait_for
from .seed import seed_workload

pytestmark = pytest.mark.integration

NS = "fidelity"
SMALL = "meta/llama-3.2-1b-instruct"
JOB_STATUSES = {"created", "pending", "running", "cancelled", "cancelling", "failed", "completed", "ready", "unknown"}


def _score(result: Any, metric: str, score: str) -> float:
    return float(result.tasks["custom-tool-calling"].metrics[metric].scores[score].value)


def test_sdk_end_to_end_with_strict_validation(emu: Emulator, sdk: Any) -> None:
    from nemo_microservices import ConflictError, NotFoundError
    from nemo_microservices.types import Dataset, Namespace
    from nemo_microservices.types.customization import CustomizationJob, CustomizationStatusDetails
    from nemo_microservices.types.deployment import ModelDeployment
    from nemo_microservices.types.evaluation import EvaluationJob
    from nemo_microservices.types.evaluation_result import EvaluationResult

    # Entity Store + Data Store
    assert isinstance(sdk.namespaces.create(id=NS), Namespace)
    with pytest.raises(ConflictError):
        sdk.namespaces.create(id=NS)
    assert NS in [n.id for n in sdk.namespaces.list()]
    urls = seed_workload(emu, NS, [tool_record(i) for i in range(80)])
    ds = sdk.datasets.retrieve("eval", namespace=NS)
    assert isinstance(ds, Dataset) and ds.files_url == f"hf://datasets/{NS}/eval"
    assert sdk.datasets.update("eval", namespace=NS, description="held out").description == "held out"
    assert {d.name for d in sdk.datasets.list()} >= {"eval", "icl", "train"}
    with pytest.raises(NotFoundError):
        sdk.datasets.retrieve("nope", namespace=NS)

    # Deployment Management: custom fields kept, status values from the platform enum, ready in the NIM proxy
    dep = sdk.deployment.model_deployments.create(
        name="meta-llama-3.2-1b-instruct",
        namespace=NS,
        config={
            "model": SMALL,
            "nim_deployment": {
                "image_name": f"nvcr.io/nim/{SMALL}",
                "image_tag": "1.8.3",
                "pvc_size": "25Gi",
                "gpu": 1,
            },
        },
        custom_fields={"flywheel_role": "candidate", "flywheel_run": "dag/run"},
    )
    assert isinstance(dep, ModelDeployment) and dep.custom_fields == {
        "flywheel_role": "candidate",
        "flywheel_run": "dag/run",
    }
    seen: set[str] = set()

    def deployed() -> bool:
        d = sdk.deployment.model_deployments.retrieve("meta-llama-3.2-1b-instruct", namespace=NS)
        seen.add(d.status_details.status)
        return d.status_details.status == "ready"

    wait_for(deployed, what="deployment ready")
    assert seen <= JOB_STATUSES and "pending" in seen
    assert [d.name for d in sdk.deployment.model_deployments.list()] == ["meta-llama-3.2-1b-instruct"]
    assert SMALL in {m.id for m in sdk.inference.models.list().data}
    assert SMALL in {m.name and f"{m.namespace}/{m.name}" for m in sdk.models.list()}

    # NIM proxy
    rec = tool_record(3)
    chat = sdk.chat.completions.create(
        model=SMALL, messages=rec["request"]["messages"], tools=rec["request"]["tools"], tool_choice="required"
    )
    assert chat.choices[0].message.tool_calls and chat.model == SMALL
    emb = sdk.embeddings.create(
        model="nvidia/llama-3.2-nv-embedqa-1b-v2", input=["a", "b", "c"], extra_body={"input_type": "query"}
    )
    assert [e.index for e in emb.data] == [0, 1, 2] and len(emb.data[0].embedding) == 2048

    # Customizer
    assert "llama-3.2-1b-instruct@2.0" in {t.name for t in sdk.customization.targets.list()}
    cfg = sdk.customization.configs.create(
        name="llama-3.2-1b-instruct@v1.0.0+dfw",
        namespace=NS,
        target="meta/llama-3.2-1b-instruct@2.0",
        training_options=[{"training_type": "sft", "finetuning_type": "lora", "num_gpus": 1, "micro_batch_size": 1}],
        training_precision="bf16-mixed",
        max_seq_length=8192,
    )
    assert cfg.max_seq_length == 8192
    with pytest.raises(ConflictError):
        sdk.customization.configs.create(
            name="llama-3.2-1b-instruct@v1.0.0+dfw",
            namespace=NS,
            target="meta/llama-3.2-1b-instruct@2.0",
            training_options=[
                {"training_type": "sft", "finetuning_type": "lora", "num_gpus": 1, "micro_batch_size": 1}
            ],
            max_seq_length=8192,
        )
    job = sdk.customization.jobs.create(
        config=f"{NS}/llama-3.2-1b-instruct@v1.0.0+dfw",
        dataset={"name": "train", "namespace": NS},
        hyperparameters={
            "training_type": "sft",
            "finetuning_type": "lora",
            "epochs": 2,
            "batch_size": 8,
            "learning_rate": 1e-4,
            "lora": {"adapter_dim": 32, "adapter_dropout": 0.1},
        },
        output_model=f"{NS}/customized-meta-llama-3.2-1b-instruct",
        name="customization-wl-meta-llama",
    )
    assert isinstance(job, CustomizationJob) and job.id and job.id.startswith("cust-")
    assert job.output_model == f"{NS}/customized-meta-llama-3.2-1b-instruct@{job.id}"
    history: list[CustomizationStatusDetails] = []

    def trained() -> bool:
        history.append(sdk.customization.jobs.status(job.id))
        return history[-1].status == "completed"

    wait_for(trained, what="customization completed")
    statuses = [h.status for h in history]
    assert set(statuses) <= {"created", "pending", "running", "completed"} and "running" in statuses
    running = [h for h in history if h.status == "running"]
    assert all(isinstance(h.epochs_completed, int) and isinstance(h.steps_completed, int) for h in history)
    assert [h.percentage_done for h in running] == sorted(h.percentage_done for h in running)
    final = history[-1]
    assert final.percentage_done == 100 and final.epochs_completed == 2 and final.status_logs
    assert sdk.customization.jobs.retrieve(job.id).status == "completed"
    adapter = str(job.output_model)
    wait_for(lambda: adapter in {m.id for m in sdk.inference.models.list().data}, what="adapter synced")
    entity = sdk.models.retrieve(adapter.split("/", 1)[1], namespace=NS)
    assert entity.base_model == SMALL

    # Evaluator: base and customized on the same eval file; the adapter scores at least as well
    results = {}
    for target in (SMALL, adapter):
        ev = sdk.evaluation.jobs.create(
            config=tool_calling_config(urls["eval"]), target={"type": "model", "model": target}
        )
        assert isinstance(ev, EvaluationJob) and ev.status == "created"
        ev_statuses: set[str] = set()

        def evaluated(job_id: str = str(ev.id), seen: set[str] = ev_statuses) -> bool:
            j = sdk.evaluation.jobs.retrieve(job_id)
            seen.add(str(j.status))
            return j.status == "completed"

        wait_for(evaluated, what="evaluation completed")
        assert ev_statuses <= {"created", "running", "completed"}
        assert sdk.evaluation.jobs.status(str(ev.id)).progress == 100
        res = sdk.evaluation.jobs.results(str(ev.id))
        assert isinstance(res, EvaluationResult) and res.job == ev.id
        results[target] = res
    for res in results.values():
        for score in ("function_name_accuracy", "function_name_and_args_accuracy"):
            assert 0.0 <= _score(res, "tool-calling-accuracy", score) <= 1.0
        stats = res.tasks["custom-tool-calling"].metrics["tool-calling-accuracy"].scores["function_name_accuracy"].stats
        assert stats is not None and stats.count == 20
    assert _score(results[adapter], "tool-calling-accuracy", "function_name_and_args_accuracy") >= _score(
        results[SMALL], "tool-calling-accuracy", "function_name_and_args_accuracy"
    )
    assert len(list(sdk.evaluation.jobs.list())) == 2
    sdk.evaluation.jobs.delete(str(ev.id))
    with pytest.raises(NotFoundError):
        sdk.evaluation.jobs.retrieve(str(ev.id))

    # Cancel a running customization through the real path
    job2 = sdk.customization.jobs.create(
        config=f"{NS}/llama-3.2-1b-instruct@v1.0.0+dfw",
        dataset={"name": "train", "namespace": NS},
        hyperparameters={"finetuning_type": "lora", "epochs": 1},
        output_model=f"{NS}/second",
    )
    cancelled = sdk.customization.jobs.cancel(str(job2.id))
    assert isinstance(cancelled, CustomizationJob) and cancelled.status == "cancelled"
    assert emu.stats()["jobs"]["customization"] == {"completed": 1, "cancelled": 1}

    # Teardown: deployment gone (and its adapter with it), entities deleted
    sdk.deployment.model_deployments.delete("meta-llama-3.2-1b-instruct", namespace=NS)
    with pytest.raises(NotFoundError):
        sdk.deployment.model_deployments.retrieve("meta-llama-3.2-1b-instruct", namespace=NS)
    assert not {SMALL, adapter} & {m.id for m in sdk.inference.models.list().data}
    sdk.models.delete(adapter.split("/", 1)[1], namespace=NS)
    sdk.datasets.delete("eval", namespace=NS)
    sdk.customization.configs.delete("llama-3.2-1b-instruct@v1.0.0+dfw", namespace=NS)
    stats = emu.stats()
    assert stats["live_deployments"] == 0 and stats["max_live_flywheel_deployments"] == 1


def test_malformed_and_unknown_payloads_get_platform_errors(emu: Emulator, sdk: Any) -> None:
    from nemo_microservices import NotFoundError, UnprocessableEntityError

    seed_workload(emu, NS, [tool_record(i) for i in range(40)])
    with pytest.raises(UnprocessableEntityError):
        sdk.deployment.model_deployments.create(name="x", namespace=NS, config={"nim_deployment": {"gpu": 1}})
    with pytest.raises(UnprocessableEntityError):
        sdk.customization.jobs.create(
            config=f"{NS}/missing", dataset={"name": "train", "namespace": NS}, hyperparameters={"epochs": 1}
        )  # finetuning_type is required
    with pytest.raises(NotFoundError):
        sdk.customization.jobs.create(
            config=f"{NS}/missing",
            dataset={"name": "train", "namespace": NS},
            hyperparameters={"finetuning_type": "lora"},
        )
    with pytest.raises(NotFoundError):
        sdk.evaluation.jobs.create(
            config=tool_calling_config(f"hf://datasets/{NS}/eval/eval_data.jsonl"),
            target={"type": "model", "model": "meta/not-deployed"},
        )
    with pytest.raises(UnprocessableEntityError):
        sdk.evaluation.jobs.create(
            config={"type": "custom", "tasks": {}}, target={"type": "model", "model": "meta/llama-3.3-70b-instruct"}
        )
    bad_metric = tool_calling_config(f"hf://datasets/{NS}/eval/eval_data.jsonl")
    bad_metric["tasks"]["custom-tool-calling"]["metrics"] = {"m": {"type": "telepathy"}}
    with pytest.raises(UnprocessableEntityError):
        sdk.evaluation.jobs.create(config=bad_metric, target={"type": "model", "model": "meta/llama-3.3-70b-instruct"})
    with pytest.raises(NotFoundError):
        sdk.evaluation.jobs.create(
            config=tool_calling_config(f"hf://datasets/{NS}/nothing/eval_data.jsonl"),
            target={"type": "model", "model": "meta/llama-3.3-70b-instruct"},
        )
    # the platform's error shapes: FastAPI detail string for 4xx, a list of problems for validation errors
    r = emu.http.post("/v1/deployment/model-deployments", json={"name": "x"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = emu.http.get("/v1/customization/jobs/cust-unknown/status")
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_classification_and_similarity_results_parse_in_the_sdk(emu: Emulator, sdk: Any) -> None:
    from tests.unit.emulator.records import (
        classification_config,
        classification_record,
        generic_record,
        similarity_config,
    )

    judge = "meta/llama-3.3-70b-instruct"  # always served: usable as an evaluation target without a deployment
    cls = seed_workload(emu, "cls", [classification_record(i) for i in range(40)])
    gen = seed_workload(emu, "gen", [generic_record(i) for i in range(40)])
    remote_judge = {"api_endpoint": {"url": f"{emu.url}/v1/chat/completions", "model_id": judge, "api_key": "k"}}
    jobs = {
        "f1": sdk.evaluation.jobs.create(
            config=classification_config(cls["eval"]), target={"type": "model", "model": judge}
        ),
        "sim": sdk.evaluation.jobs.create(
            config=similarity_config(gen["eval"], judge=remote_judge), target={"type": "model", "model": judge}
        ),
    }
    for job in jobs.values():
        wait_for(lambda j=str(job.id): sdk.evaluation.jobs.retrieve(j).status == "completed", what="eval done")
    f1 = sdk.evaluation.jobs.results(str(jobs["f1"].id)).tasks["chat-completion"].metrics["f1"].scores
    assert 0 < f1["f1"].value <= 1 and 0 < f1["accuracy"].value <= 1 and f1["f1_score"].value == f1["f1"].value
    sim = sdk.evaluation.jobs.results(str(jobs["sim"].id)).tasks["llm-as-judge"].metrics["llm-judge"]
    assert 1 <= sim.scores["similarity"].value <= 10
    # the 70b model answers most items like the reference
    assert sim.scores["similarity"].value > 7
