"""Put datasets on the emulator the way the flywheel does (HF upload + Entity Store registration)."""

from __future__ import annotations

from typing import Any

from tests.unit.emulator.records import jsonl, train_line, with_icl

from .conftest import Emulator


def hf_api(emu: Emulator) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=f"{emu.url}/v1/hf", token="nothing")


def upload(emu: Emulator, ns: str, name: str, files: dict[str, bytes]) -> None:
    api = hf_api(emu)
    api.create_repo(f"{ns}/{name}", repo_type="dataset", exist_ok=True)
    for path, content in files.items():
        api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=f"{ns}/{name}", repo_type="dataset")
    emu.call(
        "POST",
        "/v1/datasets",
        json={
            "name": name,
            "namespace": ns,
            "description": "",
            "files_url": f"hf://datasets/{ns}/{name}",
            "project": "flywheel",
        },
    )


def seed_workload(emu: Emulator, ns: str, records: list[dict[str, Any]], n_eval: int = 20) -> dict[str, str]:
    """eval / icl / train datasets from ``records``; returns their eval files_url by kind."""
    emu.call("POST", "/v1/namespaces", json={"id": ns}, expect=None)
    emu.call("POST", "/v1/datastore/namespaces", data={"namespace": ns}, expect=None)
    evals, train = records[:n_eval], records[n_eval:]
    upload(emu, ns, "eval", {"eval_data.jsonl": jsonl(evals)})
    upload(emu, ns, "icl", {"eval_data.jsonl": jsonl([with_icl(r) for r in evals])})
    upload(
        emu,
        ns,
        "train",
        {
            "training/train_data.jsonl": jsonl([train_line(r) for r in train[:-5]]),
            "validation/val_data.jsonl": jsonl([train_line(r) for r in train[-5:]]),
        },
    )
    return {k: f"hf://datasets/{ns}/{k}/eval_data.jsonl" for k in ("eval", "icl")}


def deploy(emu: Emulator, ns: str, model: str, gpus: int = 1, candidate: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": model.replace("/", "-"),
        "namespace": ns,
        "config": {
            "model": model,
            "nim_deployment": {
                "image_name": f"nvcr.io/nim/{model}",
                "image_tag": "1.8.3",
                "pvc_size": "25Gi",
                "gpu": gpus,
                "additional_envs": {"NIM_GUIDED_DECODING_BACKEND": "outlines"},
            },
        },
    }
    if candidate:
        body["custom_fields"] = {"flywheel_role": "candidate", "flywheel_run": "flywheel_test/run-1"}
    return emu.call("POST", "/v1/deployment/model-deployments", json=body)


def deployment_status(emu: Emulator, ns: str, model: str) -> str:
    d = emu.call("GET", f"/v1/deployment/model-deployments/{ns}/{model.replace('/', '-')}")
    return str(d["status_details"]["status"])


def customization_config(emu: Emulator, ns: str, model: str) -> str:
    name = f"{model.split('/')[1]}@v1.0.0+dfw"
    emu.call(
        "POST",
        "/v1/customization/configs",
        json={
            "name": name,
            "namespace": ns,
            "target": f"{model}@2.0",
            "training_options": [
                {
                    "training_type": "sft",
                    "finetuning_type": "lora",
                    "num_gpus": 1,
                    "num_nodes": 1,
                    "tensor_parallel_size": 1,
                    "data_parallel_size": 1,
                    "use_sequence_parallel": False,
                    "micro_batch_size": 1,
                }
            ],
            "training_precision": "bf16-mixed",
            "max_seq_length": 8192,
        },
        expect=None,
    )
    return f"{ns}/{name}"


def customization_job(emu: Emulator, ns: str, model: str, epochs: int = 2) -> dict[str, Any]:
    config = customization_config(emu, ns, model)
    return emu.call(
        "POST",
        "/v1/customization/jobs",
        json={
            "name": f"customization-wl-{model}",
            "output_model": f"{ns}/customized-{model.replace('/', '-')}",
            "config": config,
            "dataset": {"name": "train", "namespace": ns},
            "hyperparameters": {
                "training_type": "sft",
                "finetuning_type": "lora",
                "epochs": epochs,
                "batch_size": 4,
                "learning_rate": 0.0001,
                "lora": {"adapter_dim": 32, "adapter_dropout": 0.1},
            },
        },
    )
