"""Client behaviour against a real scripted HTTP server: each fault ends as designed.

Transient failures (503 bursts, 429 + Retry-After, slow answers, malformed bodies, refused connections)
are retried with capped backoff; permanent ones raise typed errors carrying status, URL and the
platform's message; job creation never makes a duplicate after an ambiguous failure.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from flywheel.config import NimConfig, TrainingConfig
from flywheel.platforms.core.chat import check_chat_endpoint
from flywheel.platforms.core.configs import evaluation_config, evaluation_target
from flywheel.platforms.core.errors import (
    NemoAuthError,
    NemoBadRequestError,
    NemoConnectionError,
    NemoError,
    NemoNotFoundError,
    NemoRateLimitedError,
    NemoResponseError,
    NemoServerError,
    NemoTimeoutError,
)
from flywheel.platforms.core.specs import CustomizationSpec
from flywheel.platforms.nmp.aclient import AsyncNemoClient
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.nmp.endpoints import NemoEndpoints
from tests.support.processes import free_port

from .conftest import Scripted, fast_policy

SPEC = evaluation_config("tool_calling", "hf://datasets/dfwbp/eval/eval_data.jsonl", None, 5)
TARGET = evaluation_target("m")
CUSTOMIZATION = CustomizationSpec(
    name="c-1", namespace="dfwbp", output_model="dfwbp/m", config="dfwbp/c", dataset="t", training=TrainingConfig()
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
EVAL = "/v1/evaluation/jobs/eval-1"
RUNNING = {"status": "running", "status_details": {"progress": 40.0}}
NIM = NimConfig(model_name="meta/llama-3.2-1b-instruct")
DEPLOYMENT = {
    "name": "meta-llama-3.2-1b-instruct",
    "namespace": "dfwbp",
    "status_details": {"status": "pending"},
    "custom_fields": {"flywheel_role": "candidate"},
}


def test_503_burst_is_retried_and_recovers(faults: Scripted) -> None:
    faults.script(
        "GET", EVAL, *[{"status": 503, "json": {"detail": "upstream busy"}}] * 3, {"status": 200, "json": RUNNING}
    )
    with faults.client() as c:
        state = c.get_evaluation("eval-1")
    assert (state.status, state.progress, state.terminal) == ("running", 40.0, False)
    assert len(faults.log(EVAL)) == 4


def test_endless_5xx_gives_up_with_status_url_and_message(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 502, "json": {"detail": "bad gateway from ingress"}})
    with faults.client(max_retries=3) as c, pytest.raises(NemoServerError) as err:
        c.get_evaluation("eval-1")
    e = err.value
    assert e.status == 502 and e.url == f"{faults.url}{EVAL}"
    assert str(e) == f"GET {faults.url}{EVAL} -> 502: bad gateway from ingress"
    assert len(faults.log(EVAL)) == 4  # first try + 3 retries


def test_429_waits_for_retry_after(faults: Scripted) -> None:
    faults.script(
        "GET",
        EVAL,
        {"status": 429, "json": {"detail": "slow down"}, "headers": {"Retry-After": "1"}},
        {"status": 200, "json": RUNNING},
    )
    with faults.client() as c:
        assert c.get_evaluation("eval-1").status == "running"
    first, second = faults.log(EVAL)
    assert second["t"] - first["t"] >= 0.95  # honoured Retry-After, not the 0.05 s backoff


def test_429_forever_is_a_rate_limit_error(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 429, "json": {"detail": "quota"}, "headers": {"Retry-After": "0"}})
    with faults.client(max_retries=2) as c, pytest.raises(NemoRateLimitedError, match="quota"):
        c.get_evaluation("eval-1")


def test_slow_answer_times_out_then_retry_succeeds(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 200, "json": RUNNING, "delay_s": 1.5}, {"status": 200, "json": RUNNING})
    with faults.client(timeout_s=0.5) as c:
        assert c.get_evaluation("eval-1").status == "running"
    assert len(faults.log(EVAL)) == 2


def test_always_slow_is_a_timeout_error(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 200, "json": RUNNING, "delay_s": 1.0})
    with faults.client(max_retries=1, timeout_s=0.3) as c, pytest.raises(NemoTimeoutError) as err:
        c.get_evaluation("eval-1")
    assert err.value.url == f"{faults.url}{EVAL}" and "no answer in time" in str(err.value)


def test_malformed_body_is_retried_then_reported(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 200, "text": "<html>proxy error</html>"}, {"status": 200, "json": RUNNING})
    with faults.client() as c:
        assert c.get_evaluation("eval-1").status == "running"
    faults.script("GET", EVAL, {"status": 200, "text": "<html>proxy error</html>"})
    with faults.client(max_retries=2) as c, pytest.raises(NemoResponseError, match="malformed JSON body"):
        c.get_evaluation("eval-1")


def test_json_without_status_is_a_response_error(faults: Scripted) -> None:
    faults.script("GET", EVAL, {"status": 200, "json": {"id": "eval-1"}})
    with faults.client() as c, pytest.raises(NemoResponseError, match="no status"):
        c.get_evaluation("eval-1")


def test_connection_refused_is_retried_then_a_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    ep = NemoEndpoints(base_url=url, nim_url=url, datastore_url=url, timeout_s=1, max_retries=2)
    with NemoClient(ep, policy=fast_policy(2)) as c, pytest.raises(NemoConnectionError, match="ConnectError"):
        c.list_models()


def test_4xx_is_not_retried_and_carries_the_platform_message(faults: Scripted) -> None:
    faults.script(
        "POST",
        "/v1/evaluation/jobs",
        {
            "status": 422,
            "json": {"detail": [{"loc": ["body", "config", "tasks"], "msg": "field required", "type": "missing"}]},
        },
    )
    with faults.client() as c, pytest.raises(NemoBadRequestError) as err:
        c.create_evaluation(SPEC, TARGET)
    assert err.value.status == 422 and "config.tasks: field required" in str(err.value)
    assert len(faults.log("/v1/evaluation/jobs")) == 1


def test_not_found_semantics(faults: Scripted) -> None:
    path = "/v1/deployment/model-deployments/dfwbp/gone"
    faults.script("GET", path, {"status": 404, "json": {"detail": "model deployment not found"}})
    faults.script("DELETE", path, {"status": 404, "json": {"detail": "model deployment not found"}})
    faults.script("GET", "/v1/customization/jobs/nope/status", {"status": 404, "json": {"detail": "no such job"}})
    with faults.client() as c:
        assert c.get_deployment("gone") is None
        assert c.delete_deployment("gone") is False
        with pytest.raises(NemoNotFoundError, match="no such job"):
            c.get_customization("nope")


def test_ambiguous_create_finds_the_job_instead_of_duplicating_it(faults: Scripted) -> None:
    """A 500 after the POST may hide a created job: the client looks it up by request id."""
    faults.script("POST", "/v1/customization/jobs", {"status": 500, "json": {"detail": "gateway"}, "store": True})
    with faults.client() as c:
        spec = CustomizationSpec(
            name="c-1",
            namespace="dfwbp",
            output_model="dfwbp/m",
            config="dfwbp/c",
            dataset="t",
            training=TrainingConfig(),
        )
        job_id, output = c.create_customization(spec)
    assert (job_id, output) == ("job-1", "dfwbp/m@x")
    posts = [e for e in faults.log("/v1/customization/jobs") if e["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["body"]["custom_fields"]["flywheel_request_id"]


def test_ambiguous_create_retries_when_nothing_was_created(faults: Scripted) -> None:
    faults.script(
        "POST",
        "/v1/evaluation/jobs",
        {"status": 504, "json": {"detail": "timeout"}},
        {"status": 200, "json": {"id": "eval-9"}},
    )
    faults.script("GET", "/v1/evaluation/jobs", {"status": 200, "json": {"data": [], "pagination": {"total_pages": 1}}})
    with faults.client() as c:
        assert c.create_evaluation(SPEC, TARGET) == "eval-9"
    methods = [e["method"] for e in faults.log("/v1/evaluation/jobs")]
    assert methods == ["POST", "GET", "POST"]


def test_refused_create_is_retried_directly(faults: Scripted) -> None:
    faults.script(
        "POST",
        "/v1/evaluation/jobs",
        {"status": 503, "json": {"detail": "busy"}},
        {"status": 201, "json": {"id": "eval-2"}},
    )
    with faults.client() as c:
        assert c.create_evaluation(SPEC, TARGET) == "eval-2"
    assert [e["method"] for e in faults.log("/v1/evaluation/jobs")] == ["POST", "POST"]  # 201 accepted (§16.10)


def test_existing_deployment_reported_as_500_is_returned_not_retried(faults: Scripted) -> None:
    faults.script(
        "POST",
        "/v1/deployment/model-deployments",
        {"status": 500, "json": {"detail": "model deployment already exists"}},
    )
    faults.script(
        "GET",
        "/v1/deployment/model-deployments/dfwbp/meta-llama-3.2-1b-instruct",
        {"status": 200, "json": {**DEPLOYMENT, "status_details": {"status": "ready"}}},
    )
    with faults.client() as c:
        info = c.create_deployment(NIM, {"flywheel_role": "candidate"})
    assert info.is_ready and info.custom_fields == {"flywheel_role": "candidate"}
    assert len([e for e in faults.log("/v1/deployment/model-deployments") if e["method"] == "POST"]) == 1


def test_cancel_uses_the_platform_path_and_tolerates_finished_jobs(faults: Scripted) -> None:
    """Reference defect §16.1: the cancel path is /v1/customization/jobs/{id}/cancel."""
    faults.script("POST", "/v1/customization/jobs/cust-1/cancel", {"status": 200, "json": {"status": "cancelled"}})
    faults.script("POST", "/v1/customization/jobs/cust-2/cancel", {"status": 409, "json": {"detail": "already"}})
    faults.script("POST", "/v1/evaluation/jobs/eval-1/cancel", {"status": 409, "json": {"detail": "completed"}})
    with faults.client() as c:
        c.cancel_customization("cust-1")
        c.cancel_customization("cust-2")
        c.cancel_evaluation("eval-1")
    paths = [e["path"] for e in faults.log()]
    assert "/v1/customization/jobs/cust-1/cancel" in paths and not any(
        p.startswith("/v1/customizations/") for p in paths
    )


def test_embedding_failures_raise_instead_of_dropping_records(faults: Scripted) -> None:
    """Reference defect §16.24: a failed batch must not silently drop records."""
    ok = {"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}
    faults.script("POST", "/v1/embeddings", {"status": 200, "json": ok}, {"status": 500, "json": {"detail": "oom"}})
    with faults.client(max_retries=1) as c:
        with pytest.raises(NemoServerError, match="oom"):
            c.embed(["a", "b", "c", "d"], "emb", batch_size=2)
        faults.script("POST", "/v1/embeddings", {"status": 200, "json": ok})
        assert c.embed(["a", "b"], "emb") == [[1.0, 0.0], [0.0, 1.0]]  # put back in input order
        faults.script("POST", "/v1/embeddings", {"status": 200, "json": {"data": ok["data"][:1]}})
        with pytest.raises(NemoResponseError, match="asked for 2, got 1"):
            c.embed(["a", "b"], "emb")
        with pytest.raises(ValueError, match="empty"):
            c.embed(["a", ""], "emb")


def test_api_key_is_sent_but_never_logged_or_shown(faults: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    faults.script("GET", EVAL, {"status": 503, "json": {"detail": "busy"}}, {"status": 500, "json": {"detail": "x"}})
    with caplog.at_level(logging.DEBUG), faults.client(max_retries=1, api_key="sk-top-secret") as c:
        with pytest.raises(NemoServerError) as err:
            c.get_evaluation("eval-1")
        assert "sk-top-secret" not in repr(c) and "sk-top-secret" not in str(err.value)
    assert all(e["auth"] for e in faults.log(EVAL))
    assert "sk-top-secret" not in caplog.text and "retry 1/1" in caplog.text


def test_chat_endpoint_check(faults: Scripted) -> None:
    url = f"{faults.url}/v1/chat/completions"
    answer = {"choices": [{"message": {"content": "ok"}}]}
    faults.script("POST", "/v1/chat/completions", {"status": 200, "json": answer})
    check_chat_endpoint(url, "judge", "sk-1", timeout_s=2)
    faults.script("POST", "/v1/chat/completions", {"status": 200, "json": {"object": "list"}})
    with pytest.raises(NemoResponseError, match="without 'choices'"):
        check_chat_endpoint(url, "judge", None, timeout_s=2)
    faults.script("POST", "/v1/chat/completions", {"status": 401, "json": {"detail": "invalid key"}})
    with pytest.raises(NemoAuthError, match="the API key was rejected") as err:
        check_chat_endpoint(url, "judge", "sk-wrong", timeout_s=2)
    assert "sk-wrong" not in str(err.value)
    with pytest.raises(NemoError, match="judge URL must be"):
        check_chat_endpoint("judge.example", "judge", None)


def test_async_client_uses_the_same_policy(faults: Scripted) -> None:
    faults.script(
        "GET",
        EVAL,
        {"status": 503, "json": {"detail": "busy"}},
        {"status": 429, "json": {"detail": "later"}, "headers": {"Retry-After": "0"}},
        {"status": 200, "json": {"status": "completed", "status_details": {"progress": 100}}},
    )
    faults.script("GET", "/v1/deployment/model-deployments/dfwbp/d1", {"status": 404, "json": {"detail": "gone"}})
    faults.script("POST", "/v1/customization/jobs/c1/cancel", {"status": 409, "json": {"detail": "done"}})
    faults.script("GET", "/v1/customization/jobs/c1/status", {"status": 500, "json": {"detail": "down"}})

    async def scenario() -> None:
        async with AsyncNemoClient(faults.endpoints(max_retries=3), policy=fast_policy(3)) as a:
            state = await a.get_evaluation("eval-1")
            assert state.succeeded and state.progress == 100.0
            assert await a.get_deployment("d1") is None
            await a.cancel_customization("c1")
            with pytest.raises(NemoServerError, match="down"):
                await a.get_customization("c1")

    asyncio.run(scenario())
    assert len(faults.log(EVAL)) == 3 and len(faults.log("/v1/customization/jobs/c1/status")) == 4


def test_upload_against_a_data_store_whose_409_has_no_url(faults: Scripted, tmp_path: Path) -> None:
    """An existing repo answered 409 without the Hub's 'url' field still uploads (huggingface_hub's
    exist_ok path would KeyError), and the dataset is registered once."""
    repo = "/v1/hf/api/datasets/dfwbp/flywheel-eval-x"
    faults.script("POST", "/v1/hf/api/repos/create", {"status": 409, "json": {"detail": "repo exists"}})
    faults.script(
        "POST",
        f"{repo}/preupload/main",
        {
            "status": 200,
            "json": {"files": [{"path": "eval_data.jsonl", "uploadMode": "regular", "shouldIgnore": False}]},
        },
    )
    faults.script(
        "POST",
        f"{repo}/commit/main",
        {
            "status": 200,
            "json": {
                "commitUrl": f"{faults.url}/v1/hf/datasets/dfwbp/flywheel-eval-x/commit/{'a' * 40}",
                "commitOid": "a" * 40,
                "pullRequestUrl": None,
            },
        },
    )
    faults.script("GET", "/v1/datasets/dfwbp/flywheel-eval-x", {"status": 404, "json": {"detail": "no"}})
    faults.script("POST", "/v1/datasets", {"status": 201, "json": {"name": "flywheel-eval-x"}})
    local = tmp_path / "eval.jsonl"
    local.write_text('{"request": {}}')
    with faults.client() as c:
        assert c.upload_dataset("flywheel-eval-x", {"eval_data.jsonl": local}) == "hf://datasets/dfwbp/flywheel-eval-x"
    commit = faults.log(f"{repo}/commit/main")
    assert len(commit) == 1 and commit[0]["auth"]
    (registration,) = [e for e in faults.log("/v1/datasets") if e["method"] == "POST"]
    assert registration["body"]["files_url"] == "hf://datasets/dfwbp/flywheel-eval-x"
