"""NemoHook against the running emulator: connection -> sync and async clients, and the UI's Test button."""

from __future__ import annotations

import asyncio
import json

import pytest

from flywheel.airflow.hooks import NemoHook

from .conftest import Emulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_hook_builds_clients_from_its_connection(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = json.dumps({"nim_url": emulator.url, "namespace": "hooktest"})
    monkeypatch.setenv("AIRFLOW_CONN_HOOKTEST", json.dumps({"conn_type": "http", "host": emulator.url, "extra": extra}))
    hook = NemoHook("hooktest", request_timeout_s=5, max_retries=1)
    ok, message = hook.test_connection()
    assert ok and "hooktest" in message, message
    with hook.get_conn() as c:
        assert c.ns == "hooktest" and c.list_deployments() == []

    async def models() -> list[str]:
        async with await hook.aget_conn() as ac:
            return await ac.list_models()

    assert isinstance(asyncio.run(models()), list)
    # an unreachable platform is reported, not raised
    monkeypatch.setenv("AIRFLOW_CONN_HOOKTEST", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"}))
    ok, message = NemoHook("hooktest", request_timeout_s=1, max_retries=0).test_connection()
    assert not ok and "Connect" in message, message
