"""The platform port: every call the Airflow layer makes is on it, both backends implement it with the
same signatures, and both read their answers into the same neutral results and rows."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from flywheel.platforms.core.configs import evaluation_config, judge_ref
from flywheel.platforms.core.scores import read_scores as port_read_scores
from flywheel.platforms.helix import scores as S
from flywheel.platforms.helix import translate as T
from flywheel.platforms.helix.adapter import AsyncHelixPlatform, HelixPlatform, served_names
from flywheel.platforms.helix.endpoints import HelixEndpoints
from flywheel.platforms.helix.scores import read_scores as helix_read_scores
from flywheel.platforms.nmp.aclient import AsyncNemoClient
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.port import AsyncPlatform, Platform

AIRFLOW = Path(__file__).resolve().parents[3] / "include" / "flywheel" / "airflow"
# what the Airflow layer calls on a client: ``c.x(`` / ``client.x(`` / ``client.x`` passed as a callable
CALL = re.compile(r"\b(?:c|client)\.([a-z_]+)\b")
NOT_PLATFORM = {"xcom_pull", "xcom_push", "get", "set", "delete"}  # task state store / ti, not the platform


def port_methods(proto: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(proto).items()
        if callable(member) and not name.startswith("_")
    }


def test_every_platform_call_of_the_airflow_layer_is_on_the_port() -> None:
    called = set()
    for source in AIRFLOW.glob("*.py"):
        text = source.read_text()
        if "NemoHook" in text or "client()" in text or "aget_conn" in text:
            called |= set(CALL.findall(text))
    called -= NOT_PLATFORM
    on_port = set(port_methods(Platform)) | set(port_methods(AsyncPlatform)) | {"ns"}
    assert called, "no platform calls found: the pattern no longer matches the operators"
    assert called <= on_port, f"called by the DAG but not on the port: {sorted(called - on_port)}"


@pytest.mark.parametrize(
    ("proto", "impls"),
    [(Platform, (NemoClient, HelixPlatform)), (AsyncPlatform, (AsyncNemoClient, AsyncHelixPlatform))],
)
def test_both_backends_implement_the_port_with_its_signatures(proto: type, impls: tuple[type, ...]) -> None:
    for impl in impls:
        for name, sig in port_methods(proto).items():
            assert hasattr(impl, name), f"{impl.__name__} lacks {name}"
            theirs = inspect.signature(getattr(impl, name))
            assert list(theirs.parameters) == list(sig.parameters), f"{impl.__name__}.{name}{theirs} vs port {sig}"


def test_helix_file_references() -> None:
    assert T.file_ref("ws/flywheel-eval-x/eval_data.jsonl") == "ws/flywheel-eval-x#eval_data.jsonl"
    assert T.file_ref("ws/train/training/part-0.jsonl") == "ws/train#training/part-0.jsonl"
    for bad in ("hf://datasets/ns/x/eval_data.jsonl", "ws/fileset", "ws/fs#x"):
        with pytest.raises(ValueError, match="Helix fileset"):
            T.file_ref(bad)
    # the evaluation spec accepts the Helix form, still refuses a directory
    spec = evaluation_config("classification", "ws/flywheel-eval-x/eval_data.jsonl", None, 5)
    assert (spec.workload_type, spec.files_url, spec.limit, spec.judge) == (
        "classification",
        "ws/flywheel-eval-x/eval_data.jsonl",
        5,
        None,
    )
    with pytest.raises(ValueError, match="files_url"):
        evaluation_config("classification", "ws/flywheel-eval-x/", None, 5)


def test_the_judge_rides_in_the_spec_and_its_key_stays_out_of_reprs() -> None:
    local = evaluation_config("generic", "ws/e/eval_data.jsonl", judge_ref("local", "meta/judge", None, None), None)
    assert local.judge is not None and (local.judge.mode, local.judge.model_name) == ("local", "meta/judge")
    remote = judge_ref("remote", "judge", "http://j/v1/chat/completions", "sk-judge-1")
    tool = evaluation_config("tool_calling", "ws/e/eval_data.jsonl", remote, None)
    assert tool.judge == remote and "sk-judge-1" not in repr(tool)
    assert evaluation_config("tool_calling", "ws/e/f.jsonl", None, None).judge is None


def _agg(**means: float) -> dict:
    return {"scores": {"scores": [{"name": k.replace("__", "."), "mean": v, "count": 4} for k, v in means.items()]}}


def _row(truth: str, answer: str) -> dict:
    item = {"response": {"choices": [{"message": {"content": truth}}]}}
    return {
        "item": item,
        "sample": {"output_text": answer},
        "metrics": {"exact-match": [{"name": "exact-match", "value": float(truth == answer)}]},
    }


@pytest.mark.parametrize(
    ("workload", "result", "rows"),
    [
        ("generic", {"scores": {"scores": [{"name": "llm-judge.similarity", "mean": 7.75, "count": 4}]}}, None),
        (
            "tool_calling",
            {
                "scores": {
                    "scores": [
                        {"name": "tool-calling.function_name_accuracy", "mean": 0.75, "count": 4},
                        {"name": "tool-calling.function_name_and_args_accuracy", "mean": 0.5, "count": 4},
                        {"name": "llm-judge.rating", "mean": 0.25, "count": 4},
                    ]
                }
            },
            None,
        ),
        (
            "classification",
            {"scores": {"scores": [{"name": "exact-match.exact-match", "mean": 0.75, "count": 4}]}},
            [_row("[[a]]", "[[a]]"), _row("[[b]]", "[[b]]"), _row("[[a]]", "[[b]]"), _row("[[b]]", "[[b]]")],
        ),
    ],
)
def test_helix_results_read_back_through_the_port_reader_unchanged(
    workload: str, result: dict, rows: list | None
) -> None:
    neutral = S.results(workload, result, rows)  # type: ignore[arg-type]
    assert port_read_scores(workload, neutral) == helix_read_scores(workload, result, rows)
    assert neutral.workload_type == workload and neutral.raw == result


def test_served_names_only_for_ready_providers_the_gateway_lists() -> None:
    providers = [
        {"status": "READY", "served_models": [{"served_model_name": "meta/a", "model_entity_id": "ws/meta-a"}]},
        {"status": "PENDING", "served_models": [{"served_model_name": "meta/b", "model_entity_id": "ws/meta-b"}]},
        {"status": "READY", "served_models": [{"served_model_name": "meta/c", "model_entity_id": "ws/meta-c"}]},
    ]
    assert served_names(providers, ["ws/meta-a", "ws/meta-b"]) == {"meta/a": "ws/meta-a"}


def test_helix_endpoints_validate_and_name_the_gateway() -> None:
    ep = HelixEndpoints("http://h:1/", workspace="ws", gpu_url="http://g:2", api_key="secret-key")
    assert ep.gateway_url == "http://h:1/apis/inference-gateway/v2/workspaces/ws/openai/-"
    assert "secret-key" not in repr(ep)
    with pytest.raises(ValueError, match="provider_url"):
        HelixEndpoints("http://h", provider_url="h:3")
