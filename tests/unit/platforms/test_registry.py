"""The registry: the one way from a kind and an address to a backend's port."""

from __future__ import annotations

import asyncio

import pytest

from flywheel.platforms import registry
from flywheel.platforms.helix.adapter import AsyncHelixPlatform, HelixPlatform
from flywheel.platforms.nmp.aclient import AsyncNemoClient
from flywheel.platforms.nmp.client import NemoClient
from flywheel.platforms.port import AsyncPlatform, Platform

ACCESS = registry.Access(
    url="http://127.0.0.1:1/",
    namespace="dfwbp",
    api_key="sk-registry-secret",
    extra={"namespace": "ws-1", "gpu_url": "http://127.0.0.1:2", "nim_url": "http://127.0.0.1:3/"},
    timeout_s=7.0,
    max_retries=2,
)


def _opened_async(kind: str) -> object:
    async def build() -> object:
        client = registry.open_async_platform(kind, ACCESS)
        await client.close()
        return client

    return asyncio.run(build())


@pytest.mark.parametrize(
    ("kind", "sync", "async_"), [("nmp", NemoClient, AsyncNemoClient), ("helix", HelixPlatform, AsyncHelixPlatform)]
)
def test_each_kind_opens_its_adapter_as_the_port(kind: str, sync: type, async_: type) -> None:
    with registry.open_platform(kind, ACCESS) as platform:
        assert isinstance(platform, sync) and isinstance(platform, Platform)
        assert platform.ns == "ws-1"  # the connection's namespace wins over the config's
    client = _opened_async(kind)
    assert isinstance(client, async_) and isinstance(client, AsyncPlatform)


def test_an_unknown_kind_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"platform\.kind must be one of nmp, helix, got 'k8s'"):
        registry.open_platform("k8s", ACCESS)


def test_the_key_stays_out_of_repr_and_reaches_the_endpoints() -> None:
    assert "sk-registry-secret" not in repr(ACCESS)
    nmp = registry.inference_endpoints("nmp", ACCESS)
    assert (nmp.base_url, nmp.nim_url, nmp.api_key) == (
        "http://127.0.0.1:1",
        "http://127.0.0.1:3",
        "sk-registry-secret",
    )
    helix = registry.inference_endpoints("helix", ACCESS)
    assert helix.nim_url == "http://127.0.0.1:1/apis/inference-gateway/v2/workspaces/ws-1/openai/-"


def test_resource_urls_per_kind() -> None:
    assert registry.resource_url("nmp", ACCESS, "evaluation", "e1") == "http://127.0.0.1:1/v1/evaluation/jobs/e1"
    assert (
        registry.resource_url("helix", ACCESS, "deployment", "d1")
        == "http://127.0.0.1:2/apis/models/v2/workspaces/ws-1/deployments/d1"
    )
