"""The stand-in cluster's adapter routing (``flywheel.platforms.helix.standin``), as pure functions."""

from __future__ import annotations

from typing import Any

from flywheel.platforms.helix.standin import adapter_names, adapter_providers_of, adapter_route, base_of
from flywheel.platforms.marks import mark_text, read_marks

WS = "ws"
BASE = "ws/meta-llama-3-2-1b-instruct"
MARKS = {"flywheel_role": "candidate", "flywheel_run": "dag/run-1"}


def provider(name: str, *, marks: dict[str, str] | None = MARKS, served: list[str] = (BASE,), **kw: Any) -> dict:
    return {
        "name": name,
        "host_url": "http://nim:8000",
        "status": kw.pop("status", "READY"),
        "description": mark_text(marks) if marks is not None else "someone else's",
        "served_models": [{"model_entity_id": e, "served_model_name": e} for e in served],
        **kw,
    }


def job(output: str | None = "my-adapter", model: str = BASE) -> dict[str, Any]:
    return {"name": "cust-abc", "spec": {"model": model, "output": {"name": output} if output else None}}


def test_an_adapter_is_routed_through_the_provider_of_our_deployment_of_its_base() -> None:
    providers = [provider("not-ours", marks=None), provider("dep-1")]
    body, status = adapter_route(job(), providers, WS)
    assert body["name"] == "cust-abc" and body["host_url"] == "http://nim:8000"
    assert body["model_deployment_id"] == "ws/dep-1"  # tied to our deployment: Helix leaves its route alone
    assert body["enabled_models"] == ["ws/my-adapter"] and read_marks(body["description"]) == MARKS
    assert status == {
        "served_models": [{"model_entity_id": f"{BASE}&adapters/ws/my-adapter", "served_model_name": "ws/my-adapter"}],
        "status": "READY",
    }


def test_no_route_without_our_provider_of_the_base_or_without_an_output() -> None:
    assert adapter_route(job(), [provider("not-ours", marks=None)], WS) is None  # someone else's NIM
    assert adapter_route(job(model="ws/other"), [provider("dep-1")], WS) is None  # deployment gone
    assert adapter_route(job(output=None), [provider("dep-1")], WS) is None
    tied = provider("cust-old", served=[BASE], model_deployment_id="ws/dep-1")
    assert adapter_route(job(), [tied], WS) is None  # an adapter provider is not a deployment's


def test_adapter_providers_are_found_by_deployment_and_mark() -> None:
    providers = [
        provider("dep-1"),
        provider("cust-a", model_deployment_id="ws/dep-1"),
        provider("cust-b", model_deployment_id="ws/dep-2"),
        provider("theirs", marks=None, model_deployment_id="ws/dep-1"),
    ]
    assert adapter_providers_of("dep-1", providers, WS) == ["cust-a"]


def test_adapter_names_are_listed_once_their_base_is_and_their_provider_is_ready() -> None:
    adapter = f"{BASE}&adapters/ws/a"
    providers = [provider("cust-a", served=[adapter]), provider("cust-b", served=["ws/x&adapters/ws/b"])]
    assert adapter_names(providers, [BASE]) == [adapter]
    assert adapter_names([provider("cust-a", served=[adapter], status="CREATED")], [BASE]) == []
    assert base_of(adapter) == BASE and base_of(BASE) is None
