"""``NemoHook`` hands out the adapter of the configured backend, from the same connection id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from flywheel.airflow.hooks import NemoHook
from flywheel.airflow.triggers import NemoJobTrigger
from flywheel.platforms.helix.adapter import AsyncHelixPlatform, HelixPlatform
from flywheel.platforms.nmp.aclient import AsyncNemoClient
from flywheel.platforms.nmp.client import NemoClient


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> str:
    extra = {"namespace": "ws-1", "gpu_url": "http://127.0.0.1:2", "provider_url": "http://127.0.0.1:3"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLATFORMTEST",
        json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1", "password": "k3y", "extra": extra}),
    )
    return "platformtest"


def _async(hook: NemoHook) -> object:
    async def build() -> object:
        client = await hook.aget_conn()
        await client.close()
        return client

    return asyncio.run(build())


def test_nmp_is_the_default_and_unchanged(conn: str) -> None:
    hook = NemoHook(conn, platform_kind="nmp")
    with hook.get_conn() as c:
        assert isinstance(c, NemoClient) and c.ns == "ws-1"
    assert isinstance(_async(hook), AsyncNemoClient)
    assert hook.endpoints().nim_url == "http://127.0.0.1:1"
    assert hook.resource_url("deployment", "d1") == "http://127.0.0.1:1/v1/deployment/model-deployments/ws-1/d1"
    assert hook.resource_url("customization", "c1") == "http://127.0.0.1:1/v1/customization/jobs/c1"
    assert hook.resource_url("evaluation", "e1") == "http://127.0.0.1:1/v1/evaluation/jobs/e1"


def test_helix_kind_gives_the_helix_adapter(conn: str) -> None:
    hook = NemoHook(conn, platform_kind="helix")
    with hook.get_conn() as c:
        assert isinstance(c, HelixPlatform) and c.ns == "ws-1"
        assert c.endpoints.gpu_url == "http://127.0.0.1:2" and c.endpoints.api_key == "k3y"
    assert isinstance(_async(hook), AsyncHelixPlatform)
    # latency goes through the workspace's gateway; links point at Helix (GPU routes at the GPU stand-in)
    ep = hook.endpoints()
    gateway = "http://127.0.0.1:1/apis/inference-gateway/v2/workspaces/ws-1/openai/-"
    assert (ep.base_url, ep.nim_url, ep.namespace) == ("http://127.0.0.1:1", gateway, "ws-1")
    assert hook.resource_url("deployment", "d1") == "http://127.0.0.1:2/apis/models/v2/workspaces/ws-1/deployments/d1"
    assert (
        hook.resource_url("customization", "c1")
        == "http://127.0.0.1:2/apis/customization/v2/workspaces/ws-1/automodel/jobs/c1"
    )
    assert hook.resource_url("evaluation", "e1") == "http://127.0.0.1:1/apis/evals/v2/workspaces/ws-1/evaluate/jobs/e1"


def test_a_hook_without_a_kind_reads_the_config(conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_config = yaml.safe_load((Path(__file__).resolve().parents[3] / "config" / "flywheel.yaml").read_text())
    repo_config["platform"]["kind"] = "helix"
    path = tmp_path / "flywheel.yaml"
    path.write_text(yaml.safe_dump(repo_config))
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(path))
    assert NemoHook(conn).platform_kind == "helix"  # a hook built without a kind (the UI's Test button)
    with pytest.raises(ValueError, match=r"platform\.kind"):
        _ = NemoHook(conn, platform_kind="k8s").platform_kind


def test_a_trigger_opens_the_backend_it_was_deferred_with(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The triggerer has no usable config here (an unreadable file would mean nmp): the serialized kind decides."""
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(tmp_path / "missing.yaml"))
    trigger = NemoJobTrigger(
        job_type="evaluation", ref="e-1", conn_id=conn, namespace="dfwbp", end_time=0, platform_kind="helix"
    )
    _, kwargs = trigger.serialize()
    again = NemoJobTrigger(**kwargs)

    async def opened() -> object:
        client = await again._client()
        await client.close()
        return client

    client = asyncio.run(opened())
    assert isinstance(client, AsyncHelixPlatform) and client.ns == "ws-1"
    assert "k3y" not in str(kwargs)
