"""The port's specs (``core/configs.py``) as NMP 25.x payloads (``nmp/wire.py``), checked against NVIDIA's
SDK request types; and NMP's result archive read back as per-row results."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from flywheel.config import CustomizerConfig, LoraConfig, NimConfig, TrainingConfig
from flywheel.jsontypes import JsonObject
from flywheel.platforms.core import configs as C
from flywheel.platforms.core.configs import SIMILARITY_PATTERN, judge_ref, redacted
from flywheel.platforms.core.specs import JudgeRef
from flywheel.platforms.nmp import wire as W
from flywheel.platforms.nmp.wire import customization_config, deployment_body


def evaluation_config(wtype: str, files_url: str, judge: JudgeRef | None, limit: int | None) -> JsonObject:
    return W.evaluation_config(C.evaluation_config(wtype, files_url, judge, limit))


def evaluation_target(model: str, served_url: str | None = None, api_key: str | None = None) -> JsonObject:
    return W.evaluation_target(C.evaluation_target(model, served_url, api_key))


def customization_job(*args: Any) -> dict[str, Any]:
    return W.customization_job(C.customization_job(*args))  # type: ignore[return-value]


EVAL_FILE = "hf://datasets/dfwbp/flywheel-eval-wl-abc/eval_data.jsonl"
NIM = NimConfig(
    model_name="meta/llama-3.2-1b-instruct",
    customization_enabled=True,
    customizer=CustomizerConfig(target="meta/llama-3.2-1b-instruct@2.0", max_seq_length=8192),
)
LOCAL = judge_ref("local", "meta/llama-3.3-70b-instruct", None, None)
REMOTE = judge_ref("remote", "judge/model", "https://judge.example/v1/chat/completions", "sk-secret")


def sdk(module: str, name: str) -> TypeAdapter[Any]:
    import importlib

    return TypeAdapter(getattr(importlib.import_module(f"nemo_microservices.types.{module}"), name))


def only_task(cfg: dict[str, Any]) -> dict[str, Any]:
    (task,) = cfg["tasks"].values()
    return task


def test_generic_config_uses_judge_similarity_and_parses_ten_as_ten() -> None:
    cfg = evaluation_config("generic", EVAL_FILE, LOCAL, 200)
    task = cfg["tasks"]["llm-as-judge"]
    assert task["dataset"] == {"files_url": EVAL_FILE, "limit": 200}
    judge = task["metrics"]["llm-judge"]
    assert judge["type"] == "llm-judge" and judge["params"]["model"] == "meta/llama-3.3-70b-instruct"
    pattern = judge["params"]["scores"]["similarity"]["parser"]["pattern"]
    # reference defect §16.8: "(\d)" read a 10 as 1
    assert [re.search(pattern, s).group(1) for s in ("10", "Score: 10", "7", " 9\n", "10/10")] == [
        "10",
        "10",
        "7",
        "9",
        "10",
    ]
    assert re.search(pattern, "0") is None and re.search(pattern, "100") is None
    assert pattern == SIMILARITY_PATTERN


def test_generic_needs_a_judge() -> None:
    with pytest.raises(ValueError, match="judge is required"):
        evaluation_config("generic", EVAL_FILE, None, None)


def test_tool_calling_config_with_and_without_judge() -> None:
    with_judge = only_task(evaluation_config("tool_calling", EVAL_FILE, LOCAL, None))
    assert with_judge["dataset"] == {"files_url": EVAL_FILE}
    assert with_judge["params"]["template"]["tool_choice"] == "required"
    assert set(with_judge["metrics"]) == {"tool-calling-accuracy", "correctness"}
    rating = with_judge["metrics"]["correctness"]["params"]["scores"]["rating"]["parser"]["pattern"]
    assert re.search(rating, "RATING: 1\nEXPLANATION: ok").group(1) == "1"
    without = only_task(evaluation_config("tool_calling", EVAL_FILE, None, 5))
    assert set(without["metrics"]) == {"tool-calling-accuracy"}


def test_classification_config_scores_f1_on_the_label() -> None:
    task = only_task(evaluation_config("classification", EVAL_FILE, None, 100))
    assert task["metrics"]["f1"]["type"] == "f1"
    assert "message.content" in task["metrics"]["f1"]["params"]["ground_truth"]


@pytest.mark.parametrize("bad", ["hf://datasets/dfwbp/x/", "s3://bucket/x.jsonl", "eval_data.jsonl"])
def test_files_url_must_name_a_file(bad: str) -> None:
    with pytest.raises(ValueError, match="files_url"):
        evaluation_config("classification", bad, None, None)


def test_unknown_workload_type_and_bad_limit() -> None:
    with pytest.raises(ValueError, match="unknown workload type"):
        evaluation_config("summarize", EVAL_FILE, LOCAL, None)
    with pytest.raises(ValueError, match="limit"):
        evaluation_config("classification", EVAL_FILE, None, 0)


def test_eval_payloads_validate_against_the_sdk_request_type() -> None:
    adapter = sdk("evaluation.job_create_params", "JobCreateParams")
    for wtype, judge in (("generic", LOCAL), ("generic", REMOTE), ("tool_calling", REMOTE), ("classification", None)):
        adapter.validate_python(
            {
                "config": evaluation_config(wtype, EVAL_FILE, judge, 10),
                "target": evaluation_target("meta/llama-3.2-1b-instruct"),
            }
        )


def test_judge_refs() -> None:
    assert judge_ref("none", "m", None, None) is None
    assert LOCAL is not None and W.judge_model(LOCAL) == "meta/llama-3.3-70b-instruct"
    assert REMOTE is not None and W.judge_model(REMOTE) == {
        "api_endpoint": {
            "url": "https://judge.example/v1/chat/completions",
            "model_id": "judge/model",
            "api_key": "sk-secret",
        }
    }
    assert "sk-secret" not in repr(REMOTE)
    keyless = judge_ref("remote", "m", "http://127.0.0.1:9/v1/chat/completions", None)
    assert keyless is not None and "api_key" not in W.judge_model(keyless)["api_endpoint"]
    with pytest.raises(ValueError, match="chat-completions URL"):
        judge_ref("remote", "m", None, "k")
    with pytest.raises(ValueError, match="local, remote or none"):
        judge_ref("cloud", "m", None, None)


def test_redacted_hides_keys_for_logs() -> None:
    cfg = evaluation_config("generic", EVAL_FILE, REMOTE, 10)
    assert "sk-secret" in str(cfg)
    assert "sk-secret" not in str(redacted(cfg)) and "***" in str(redacted(cfg))


def test_customization_config_name_tracks_its_settings() -> None:
    """Reference defect §16.12: a changed config must not silently reuse the old one."""
    name, body = customization_config(NIM, TrainingConfig(), "dfwbp")
    assert re.fullmatch(r"llama-3\.2-1b-instruct@v1\.0\.0\+dfw\.[0-9a-f]{8}", name)
    assert body["name"] == name and body["max_seq_length"] == 8192
    assert body["training_options"][0]["num_gpus"] == 1
    assert customization_config(NIM, TrainingConfig(), "dfwbp")[0] == name
    more_gpus = NIM.model_copy(update={"customizer": NIM.customizer.model_copy(update={"gpus": 2})})
    assert customization_config(more_gpus, TrainingConfig(), "dfwbp")[0] != name
    full = TrainingConfig(finetuning_type="all_weights")
    assert customization_config(NIM, full, "dfwbp")[0] != name
    sdk("customization.config_create_params", "ConfigCreateParams").validate_python(body)


def test_customization_config_needs_customizer() -> None:
    with pytest.raises(ValueError, match="no customizer block"):
        customization_config(NimConfig(model_name="meta/llama-3.2-1b-instruct"), TrainingConfig(), "dfwbp")


def test_customization_job_payload_and_unique_names() -> None:
    training, lora = TrainingConfig(epochs=3, batch_size=8, learning_rate=0.0002), LoraConfig(adapter_dim=16)
    job = customization_job(
        "Aiva_1",
        "manual__2025-01-01T00:00:00+00:00-0",
        NIM,
        "dfwbp/cfg@v1",
        "flywheel-train-x",
        "dfwbp",
        training,
        lora,
    )
    assert "/" not in job["name"] and re.fullmatch(r"[a-z0-9-]+", job["name"])
    assert re.fullmatch(r"dfwbp/[A-Za-z0-9][\w.-]*", job["output_model"])
    assert job["dataset"] == {"name": "flywheel-train-x", "namespace": "dfwbp"}
    assert job["hyperparameters"] == {
        "training_type": "sft",
        "finetuning_type": "lora",
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 0.0002,
        "lora": {"adapter_dim": 16, "adapter_dropout": 0.1},
    }
    other_run = customization_job("Aiva_1", "manual__2025-01-02-0", NIM, "dfwbp/cfg@v1", "t", "dfwbp", training, lora)
    other_nim = customization_job(
        "Aiva_1",
        "manual__2025-01-01T00:00:00+00:00-0",
        NIM.model_copy(update={"model_name": "meta/llama-3.2-3b-instruct"}),
        "dfwbp/cfg@v1",
        "t",
        "dfwbp",
        training,
        lora,
    )
    names = {j["name"] for j in (job, other_run, other_nim)}
    outputs = {j["output_model"] for j in (job, other_run, other_nim)}
    assert len(names) == 3 and len(outputs) == 3
    sdk("customization.job_create_params", "JobCreateParams").validate_python(job)
    full = customization_job(
        "w", "r", NIM, "dfwbp/c", "t", "dfwbp", TrainingConfig(finetuning_type="all_weights"), lora
    )
    assert "lora" not in full["hyperparameters"]


def test_customization_job_rejects_bad_refs() -> None:
    with pytest.raises(ValueError, match="config_ref"):
        customization_job("w", "r", NIM, "no-namespace", "t", "dfwbp", TrainingConfig(), LoraConfig())


def test_deployment_body() -> None:
    body = deployment_body(
        NIM.model_copy(update={"tag": "1.8.3", "additional_envs": {"X": "1"}}),
        "dfwbp",
        {"flywheel_role": "candidate", "flywheel_run": "d/r"},
    )
    assert body["name"] == "meta-llama-3.2-1b-instruct" and body["namespace"] == "dfwbp"
    nd = body["config"]["nim_deployment"]
    assert nd["image_name"] == "nvcr.io/nim/meta/llama-3.2-1b-instruct" and nd["image_tag"] == "1.8.3"
    assert nd["gpu"] == 1 and nd["additional_envs"]["X"] == "1"
    assert body["custom_fields"] == {"flywheel_role": "candidate", "flywheel_run": "d/r"}
    sdk("deployment.model_deployment_create_params", "ModelDeploymentCreateParams").validate_python(body)


def test_sdk_types_do_reject_wrong_payloads() -> None:
    """The SDK checks above are meaningful: a wrong value is refused (lists typed ``Iterable`` in the SDK
    are validated lazily by pydantic, so the checks bite on mappings and scalars)."""
    _, body = customization_config(NIM, TrainingConfig(), "dfwbp")
    with pytest.raises(ValidationError):
        sdk("customization.config_create_params", "ConfigCreateParams").validate_python(
            {**body, "max_seq_length": "long"}
        )
    job = customization_job("w", "r", NIM, "dfwbp/c", "t", "dfwbp", TrainingConfig(), LoraConfig())
    job["hyperparameters"]["finetuning_type"] = "qlora-ish"
    with pytest.raises(ValidationError):
        sdk("customization.job_create_params", "JobCreateParams").validate_python(job)


def test_a_candidate_served_elsewhere_is_reached_at_its_own_url() -> None:
    assert evaluation_target("meta/llama-3.3-70b-instruct", "http://nim.example:8000/") == {
        "type": "model",
        "model": {
            "api_endpoint": {
                "url": "http://nim.example:8000/v1/chat/completions",
                "model_id": "meta/llama-3.3-70b-instruct",
            }
        },
    }
    assert evaluation_target("meta/a", None) == {"type": "model", "model": "meta/a"}


def test_a_served_candidate_with_a_key_carries_it_for_the_platform_and_logs_hide_it() -> None:
    keyed = evaluation_target("meta/b", "https://nim.example", "sk-served-1")
    assert keyed["model"]["api_endpoint"]["api_key"] == "sk-served-1"
    assert "sk-served-1" not in str(redacted(keyed))
    assert evaluation_target("meta/b", None, "sk-served-1") == {"type": "model", "model": "meta/b"}
    sdk("evaluation.job_create_params", "JobCreateParams").validate_python(
        {"config": evaluation_config("tool_calling", EVAL_FILE, REMOTE, 10), "target": keyed}
    )
