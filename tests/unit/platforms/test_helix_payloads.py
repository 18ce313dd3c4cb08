"""Helix payload builders and score readers (pure functions; their wire fidelity is tests/helix)."""

from __future__ import annotations

import hashlib
import json

import pytest

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.platforms.core.errors import NemoAmbiguousError, NemoBadRequestError, NemoServerError
from flywheel.platforms.core.scores import ScoreError
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.ops import without as _without
from flywheel.platforms.helix.scores import label, macro_f1, read_scores
from flywheel.platforms.helix.states import deployment_info, job_state
from flywheel.platforms.marks import mark_text, read_marks

TARGET = P.ModelTarget("http://h/apis/inference-gateway/v2/workspaces/ws/openai/-/v1/chat/completions", "ws/cand")


def test_names_and_entities_follow_helix_rules() -> None:
    assert P.helix_name("Eval", "tool_calling", "Run 1") == "eval-tool-calling-run-1"
    assert P.helix_name("1abc") == "x-1abc"
    assert len(P.helix_name("a" * 200)) == 63
    assert P.entity_name("meta/llama-3.2-1b-instruct") == "meta-llama-3-2-1b-instruct"


def test_evaluation_spec_per_workload_type() -> None:
    generic = P.evaluation_spec("generic", "ws/eval", TARGET, TARGET, 50)
    assert [m["metric_type"] for m in generic["metrics"]] == ["llm-judge"]
    judge = generic["metrics"][0]["payload"]["metric"]
    assert judge["scores"][0]["parser"] == {"type": "regex", "pattern": P.SIMILARITY_PATTERN, "method": "search"}
    assert "tojson" not in json.dumps(judge["prompt_template"])  # Helix would JSON-decode the rendered text
    assert generic["params"]["limit_samples"] == 50 and generic["dataset"] == "ws/eval"

    tools = P.evaluation_spec("tool_calling", "ws/eval", TARGET, None, None)
    assert [m["metric_type"] for m in tools["metrics"]] == ["tool-calling"]
    assert tools["prompt_template"]["tool_choice"] == "required"
    with_judge = P.evaluation_spec("tool_calling", "ws/eval", TARGET, TARGET, None)
    assert [o["name"] for m in with_judge["metrics"] for o in m["outputs"]] == [
        "function_name_accuracy",
        "function_name_and_args_accuracy",
        "rating",
    ]
    classification = P.evaluation_spec("classification", "ws/eval", TARGET, None, None)
    assert classification["metrics"][0]["payload"]["metric"]["candidate"] == P.ANSWER_LABEL

    with pytest.raises(ValueError, match="judge is required"):
        P.evaluation_spec("generic", "ws/eval", TARGET, None, None)
    with pytest.raises(ValueError, match="unknown workload"):
        P.evaluation_spec("summaries", "ws/eval", TARGET, None, None)


def test_metric_bundle_digest_is_sha256_of_canonical_metric() -> None:
    bundle = P.metric_bundle({"type": "exact-match", "reference": "{{ a }}"}, ["exact-match"])
    canonical = json.dumps({"reference": "{{ a }}", "type": "exact-match"}, separators=(",", ":"))
    assert bundle["payload"]["digest"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_deployment_and_automodel_bodies() -> None:
    nim = NimConfig(model_name="meta/llama-3.2-1b-instruct", gpus=2, pvc_size="30Gi")
    body = P.deployment_config_body(nim, "dfw-x", {"flywheel_role": "candidate"}, lora=True)
    assert body["model_spec"] == {
        "model_namespace": "meta",
        "model_name": "llama-3.2-1b-instruct",
        "lora_enabled": True,
    }
    assert body["executor_config"]["gpu"] == 2 and body["executor_config"]["disk_size"] == "30Gi"
    assert read_marks(body["description"]) == {"flywheel_role": "candidate"}
    job = P.automodel_job(
        "j", "ws/m", "ws/train", None, "adapter", TrainingConfig(epochs=3), LoraConfig(adapter_dim=8), {"a": "b"}
    )
    assert job["spec"]["training"]["lora"] == {"rank": 8, "alpha": 16, "dropout": 0.1}
    assert job["spec"]["dataset"] == {"training": "ws/train"} and job["spec"]["schedule"] == {"epochs": 3}
    full = P.automodel_job(
        "j", "ws/m", "ws/t", None, "a", TrainingConfig(finetuning_type="all_weights"), LoraConfig(), {}
    )
    assert "lora" not in full["spec"]["training"]


def _result(**means: float) -> dict:
    return {"scores": {"scores": [{"name": k, "mean": v, "count": 4} for k, v in means.items()]}}


def test_read_scores_maps_helix_names_to_report_keys() -> None:
    assert read_scores("generic", _result(**{"llm-judge.similarity": 10.0})) == {"similarity": 1.0}
    tools = _result(
        **{"tool-calling.function_name_accuracy": 0.75, "tool-calling.function_name_and_args_accuracy": 0.5}
    )
    assert read_scores("tool_calling", tools) == {
        "function_name_accuracy": 0.75,
        "function_name_and_args_accuracy": 0.5,
    }
    with pytest.raises(ScoreError, match="no score"):
        read_scores("tool_calling", _result(**{"tool-calling.function_name_accuracy": 1.0}))
    empty = {"scores": {"scores": [{"name": "llm-judge.similarity", "count": 0, "nan_count": 4}]}}
    with pytest.raises(ScoreError, match="0 rows"):
        read_scores("generic", empty)


def _row(i: int, truth: str, answer: str, match: float) -> dict:
    item = {"response": {"choices": [{"message": {"content": truth}}]}}
    return {
        "row_index": i,
        "item": item,
        "sample": {"output_text": answer},
        "metrics": {"exact-match": [{"name": "exact-match", "value": match}]},
    }


def test_classification_f1_from_row_scores() -> None:
    rows = [
        _row(0, "[[sports]]", "It is [[Sports]]", 1.0),
        _row(1, "[[politics]]", "[[sports]]", 0.0),
        _row(2, "[[politics]]", "[[politics]]", 1.0),
        _row(3, "[[tech]]", "no label", 0.0),
    ]
    scores = read_scores("classification", _result(**{"exact-match.exact-match": 0.5}), rows)
    assert scores["accuracy"] == 0.5
    # per label: sports 2/(2+1) = 2/3, politics 2/(2+1) = 2/3, tech 0, "no label" 0 → mean 1/3
    assert scores["f1"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    with pytest.raises(ScoreError, match="differs"):
        read_scores("classification", _result(**{"exact-match.exact-match": 0.75}), rows)
    with pytest.raises(ScoreError, match="labels"):
        read_scores("classification", _result(**{"exact-match.exact-match": 0.5}), [_row(0, "[[a]]", "[[a]]", 0.0)])
    assert label(" [[ Billing ]] extra") == "billing" and label("Plain ") == "plain"
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0


def test_states_map_onto_the_flywheel_ones() -> None:
    assert job_state({"status": "active"}, "evaluation").status == "running"
    failed = job_state({"status": "error", "error_details": {"message": "OOM"}}, "customization")
    assert failed.terminal and not failed.succeeded and failed.detail == "OOM"
    assert job_state({"status": "completed"}, "evaluation").succeeded
    dep = deployment_info({"name": "d", "workspace": "ws", "status": "ERROR"}, {"description": mark_text({"a": "1"})})
    assert dep.is_failed and dep.custom_fields == {"a": "1"}
    assert deployment_info({"name": "d", "workspace": "ws", "status": "READY"}, None).is_ready


def test_a_served_candidate_gets_one_provider_per_run() -> None:
    nim = NimConfig(model_name="meta/llama-3.3-70b-instruct", served_url="http://nim:8000")
    first, again, other = (P.served_provider_name(nim, o) for o in ("dag/run-1", "dag/run-1", "dag/run-2"))
    assert first == again != other and P.NAME_RE.match(first) and first.startswith("served-")
    # with a key, the provider names a workspace secret (per URL and model), never the key
    secret = P.served_secret_name("http://nim:8000", nim.model_name)
    assert P.NAME_RE.match(secret) and secret.startswith("flywheel-served-")
    assert secret not in (P.judge_secret_name("http://nim:8000", nim.model_name), P.served_secret_name("http://n", "m"))
    keyed = P.provider_body(first, "http://nim:8000/", [nim.model_name], {"flywheel_run": "r"}, secret)
    assert keyed["api_key_secret_name"] == secret and keyed["host_url"] == "http://nim:8000"
    assert "api_key_secret_name" not in P.provider_body(first, "http://nim:8000", [nim.model_name], {})


def test_a_remote_judge_key_is_named_by_a_workspace_secret() -> None:
    url = "https://judge.example/v1/chat/completions"
    name = P.judge_secret_name(url, "meta/llama-3.3-70b-instruct")
    assert name == P.judge_secret_name(url, "meta/llama-3.3-70b-instruct")  # deterministic: updated in place
    assert P.NAME_RE.match(name) and name.startswith("flywheel-judge-")
    others = {P.judge_secret_name(url, "other/model"), P.judge_secret_name(url.replace("judge", "j2"), "m")}
    assert name not in others and len(others) == 2
    assert (
        P.secret_env(name) == name.replace("-", "_")
        and P.secret_env("ws/1-key") == "ws_1_key"
        and P.secret_env("1-key") == "_1_key"
    )

    judge = P.ModelTarget(url, "meta/llama-3.3-70b-instruct", name)
    spec = P.evaluation_spec("generic", "ws/eval", TARGET, judge, None)
    (bundle,) = spec["metrics"]
    assert bundle["payload"]["metric"]["model"] == {"url": url, "name": judge.name, "api_key_secret": name}
    assert bundle["secrets"] == {P.secret_env(name): name}
    assert spec["target"] == TARGET.as_json() and "api_key_secret" not in spec["target"]
    keyless = P.evaluation_spec("generic", "ws/eval", TARGET, P.ModelTarget(url, judge.name), None)
    assert keyless["metrics"][0]["secrets"] == {} and "api_key_secret" not in keyless["metrics"][0]["payload"]["metric"]

    assert P.secret_body(name, "k", "d") == {"name": name, "value": "k", "description": "d"}
    assert P.secret_update_body("k", "d") == {"value": "k", "description": "d"}
    assert url in P.judge_secret_description(url, judge.name)


def test_a_failed_job_says_which_exception_ended_it() -> None:
    stack = (
        '0/lib/python3.13/asyncio/runners.py\\", line 194, in run     return runner.run(main)   ...<4 lines>...'
        "     ) from e nhx_evals_sdk.execution.values.EvaluationError: Evaluation failed during metric scoring "
        "for metric 'llm-judge' on row 2: Unable to complete inference because a 401 error occurred.\"}\n"
    )
    failed = {
        "status": "error",
        "error_details": {"message": "Job exited with code 1"},
        "steps": [{"name": "evaluate", "tasks": [{"status": "error", "error_stack": stack}]}],
    }
    state = job_state(failed, "evaluation")
    assert state.detail == (
        "Job exited with code 1: EvaluationError: Evaluation failed during metric scoring for metric "
        "'llm-judge' on row 2: Unable to complete inference because a 401 error occurred."
    )
    assert job_state({**failed, "steps": []}, "evaluation").detail == "Job exited with code 1"
    assert job_state({**failed, "status": "completed"}, "evaluation").detail == "Job exited with code 1"


def test_helix_errors_about_a_secret_never_show_its_value() -> None:
    """An error the platform raised while the key was being written (it may echo the body) loses the key."""
    key = "sk-live-0123456789abcdef"
    err = NemoBadRequestError(f"value {key!r} rejected", status=422, url="http://h/secrets", method="POST")
    clean = _without(err, key)
    assert type(clean) is NemoBadRequestError and key not in str(clean) and clean.status == 422
    assert str(clean) == "POST http://h/secrets -> 422: value '***' rejected"
    ambiguous = _without(NemoAmbiguousError(NemoServerError(f"echo {key}", status=502)), key)
    assert isinstance(ambiguous, NemoAmbiguousError) and key not in str(ambiguous) and key not in str(ambiguous.cause)
