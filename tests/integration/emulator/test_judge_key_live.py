"""``judge_api_key``: the emulator's judge answers chat only with that Bearer key, like a hosted judge API;
unset (the default), nothing asks for a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.emulator.records import tool_calling_config, tool_record

from .conftest import FAST, Emulator, run_emulator, wait_for
from .seed import seed_workload

pytestmark = pytest.mark.integration
JUDGE, EMBEDDER = "meta/llama-3.3-70b-instruct", "nvidia/llama-3.2-nv-embedqa-1b-v2"
ASK = {"model": JUDGE, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4}


def test_without_a_judge_key_the_judge_answers_anyone(emu: Emulator) -> None:
    assert emu.http.post("/v1/chat/completions", json=ASK).status_code == 200


def test_with_a_judge_key_only_its_bearer_is_answered(tmp_path: Path) -> None:
    key = "sk-judge-0123456789"
    with run_emulator(tmp_path, {**FAST, "judge_api_key": key}) as emu:
        refused = [
            emu.http.post("/v1/chat/completions", json=ASK, headers=h)
            for h in ({}, {"Authorization": "Bearer sk-other"}, {"Authorization": key}, {"X-Api-Key": key})
        ]
        assert [r.status_code for r in refused] == [401] * 4
        assert all("API key" in r.json()["detail"] and key not in r.text for r in refused)
        ok = emu.http.post("/v1/chat/completions", json=ASK, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
        # only judges ask for the key: the embedding model (and any deployed candidate) does not
        embedded = emu.http.post("/v1/embeddings", json={"model": EMBEDDER, "input": "x"})
        assert embedded.status_code == 200


def test_with_a_judge_key_an_evaluation_calling_the_judge_model_without_it_fails(tmp_path: Path) -> None:
    """A job whose target (a candidate served elsewhere) or judge is the keyed model at an ``api_endpoint``
    fails like the platform's would on the 401; with the key it completes. The message names no key."""
    key = "sk-judge-0123456789"
    with run_emulator(tmp_path, {**FAST, "judge_api_key": key}) as emu:
        urls = seed_workload(emu, "keyed", [tool_record(i) for i in range(30)])
        endpoint = {"url": f"{emu.url}/v1/chat/completions", "model_id": JUDGE}

        def evaluate(api_key: str | None) -> dict:
            target = {"api_endpoint": {**endpoint, **({"api_key": api_key} if api_key else {})}}
            job = emu.call(
                "POST",
                "/v1/evaluation/jobs",
                json={"config": tool_calling_config(urls["eval"]), "target": {"type": "model", "model": target}},
            )
            return wait_for(
                lambda: (
                    (j := emu.call("GET", f"/v1/evaluation/jobs/{job['id']}"))["status"] in ("failed", "completed")
                    and j
                ),
                what="evaluation finished",
            )

        missing, wrong, right = evaluate(None), evaluate("sk-other"), evaluate(key)
        assert missing["status"] == "failed" and "401" in missing["status_details"]["message"]
        assert "missing API key" in missing["status_details"]["message"]
        assert wrong["status"] == "failed" and "invalid API key" in wrong["status_details"]["message"]
        assert key not in str(missing["status_details"]) + str(wrong["status_details"])
        assert right["status"] == "completed", right["status_details"]
