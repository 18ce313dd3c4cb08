"""A remote LLM judge that wants an API key, on real Helix: the key becomes a workspace secret that the
judge metric names, Helix injects it into the evaluation job, and the emulator's judge (configured with
``judge_api_key``) answers only when the job sends it. The key is never part of the job as Helix keeps
and returns it, nor of anything the adapter returns or raises."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.localstack.helix import HelixServices
from flywheel.platforms.core.configs import evaluation_config, evaluation_target, judge_ref, read_scores, redacted
from flywheel.platforms.core.errors import NemoError
from flywheel.platforms.core.states import JobState
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.adapter import HelixPlatform
from flywheel.platforms.helix.endpoints import HelixEndpoints
from tests.integration.emulator.conftest import FAST, Emulator, run_emulator
from tests.support.waiting import wait_for
from tests.unit.emulator.records import generic_record

from .helpers import CANDIDATE, JUDGE, client_of, deploy_candidate, seed_eval, serve
from .helpers import secret as secret_meta

pytestmark = [pytest.mark.helix, pytest.mark.integration, pytest.mark.timeout(420)]


def _finished(c: HelixPlatform, job: str) -> JobState:
    return wait_for(lambda: (s := c.get_evaluation(job)).terminal and s, 180, f"evaluation {job} finished", 0.5)


def _helix_views(helix: HelixServices, ws: str, job: str) -> str:
    """Everything Helix answers about an evaluation job: the job, its status, the jobs service's record
    of it (compiled steps and their environment), and its result when there is one."""
    evals = f"{helix.url}/apis/evals/v2/workspaces/{ws}"
    urls = [
        f"{evals}/evaluate/jobs/{job}",
        f"{evals}/evaluate/jobs/{job}/status",
        f"{evals}/eval-results/{job}",
        f"{helix.url}/apis/jobs/v2/workspaces/{ws}/jobs/{job}",
        f"{helix.url}/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps",
    ]
    return "\n".join(httpx.get(u, timeout=30).text for u in urls)


def test_remote_judge_with_an_api_key_runs_through_a_helix_secret(
    helix: HelixServices, workspace: str, tmp_path: Path
) -> None:
    wrong, right = f"sk-wrong-{secrets.token_hex(12)}", f"sk-right-{secrets.token_hex(12)}"
    with run_emulator(tmp_path, {**FAST, "judge_api_key": right}) as emu:
        ep = HelixEndpoints(helix.url, workspace=workspace, gpu_url=emu.url, provider_url=emu.url, timeout_s=30)
        judge_url = f"{emu.url}/v1/chat/completions"
        _emulator_judge_wants_the_key(emu, right)
        with HelixPlatform(ep) as c, client_of(ep) as hc:
            c.ensure_namespace()
            deploy_candidate(hc)
            serve(hc, emu, [CANDIDATE])
            dataset = seed_eval(hc, emu, "eval-judge", [generic_record(i) for i in range(8)])

            def config(key: str) -> dict[str, Any]:
                judge = judge_ref("remote", JUDGE, judge_url, key)
                return evaluation_config("generic", f"{dataset}/eval_data.jsonl", judge, None)

            secret = P.judge_secret_name(judge_url, JUDGE)
            assert secret_meta(hc, secret) is None
            seen: list[Any] = []  # everything the adapter hands back, checked for the keys at the end

            # a key the judge refuses: the secret is created, and the job fails (not hangs) saying why
            t0 = time.monotonic()
            refused = c.create_evaluation(config(wrong), evaluation_target(CANDIDATE), "judge-wrong")
            created = secret_meta(hc, secret)
            assert created is not None and created["name"] == secret and "value" not in created
            failed = _finished(c, refused)
            failed_s = time.monotonic() - t0
            assert failed.status == "failed" and not failed.succeeded, failed
            # the judge refused the key; Helix reports the lowest failing row: the refused call itself (a 401 in
            # metric 'llm-judge'), or a row whose generation or scoring it cancelled because of it
            assert emu.call("GET", "/emulator/stats")["refused_keys"] > 0
            refusal = "metric 'llm-judge'" in (failed.detail or "") and "401" in (failed.detail or "")
            assert refusal or (failed.detail or "").endswith(": Operation cancelled"), failed.detail
            assert failed_s < 120
            seen += [refused, failed]

            # the key changes (the Airflow connection was fixed): the same secret gets the new value
            t0 = time.monotonic()
            scored = c.create_evaluation(config(right), evaluation_target(CANDIDATE), "judge-right")
            updated = secret_meta(hc, secret)
            assert updated is not None and updated["updated_at"] != created["updated_at"]
            assert hc.put_secret(secret, right, "same value") == "unchanged"
            done = _finished(c, scored)
            scored_s = time.monotonic() - t0
            assert done.succeeded, done
            results = c.evaluation_results(scored)
            similarity = read_scores("generic", results)["similarity"]
            assert 0 < similarity <= 1  # the judge scored the candidate's answers
            assert results.raw["row_count"] == 8
            rows = c.evaluation_rows(scored)  # the judge's own words, row by row
            assert len(rows) == 8 and all(r.judge_answer and r.scores["llm-judge.similarity"] for r in rows)
            seen += [scored, done, results]

            # a retried task submits the same evaluation again: same job, secret untouched
            assert c.create_evaluation(config(right), evaluation_target(CANDIDATE), "judge-right") == scored
            assert secret_meta(hc, secret)["updated_at"] == updated["updated_at"]

            # the job names the secret, never the key
            job = hc.evaluation_job(scored)
            (metric,) = job["spec"]["metrics"]
            assert metric["payload"]["metric"]["model"]["api_key_secret"] == secret
            assert metric["secrets"] == {P.secret_env(secret): secret}

            # a judge without a key is refused by the emulator's judge (the key is really checked)
            keyless = c.create_evaluation(config(""), evaluation_target(CANDIDATE), "judge-none")
            assert _finished(c, keyless).status == "failed"

            views = "\n".join(_helix_views(helix, workspace, j) for j in (refused, scored, keyless))
            returned = json.dumps([redacted(config(right).model_dump()), *map(repr, seen)], default=str)
            for key in (wrong, right):
                assert key not in views and key not in returned
            assert secret in views
        print(f"\nremote judge via Helix secret: refused job failed in {failed_s:.1f}s ({failed.detail})")
        print(f"remote judge via Helix secret: scored job completed in {scored_s:.1f}s")


def _emulator_judge_wants_the_key(emu: Emulator, key: str) -> None:
    ask = {"model": JUDGE, "messages": [{"role": "user", "content": "ping"}]}
    url = f"{emu.url}/v1/chat/completions"
    assert httpx.post(url, json=ask).status_code == 401
    assert httpx.post(url, json=ask, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(url, json=ask, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.post(url, json={**ask, "model": CANDIDATE}).status_code in (200, 404)  # never asks for a key


def test_a_refused_secret_write_does_not_show_the_key(helix: HelixServices, workspace: str) -> None:
    """Helix refuses a secret it cannot name (upper case): the error says why, without the value."""
    key = f"sk-{secrets.token_hex(12)}"
    ep = HelixEndpoints(helix.url, workspace=workspace, timeout_s=30)
    with HelixPlatform(ep) as c, client_of(ep) as hc:
        c.ensure_namespace()
        with pytest.raises(NemoError) as raised:
            hc.put_secret(f"Bad-Name-{key}", key, "x")
        assert raised.value.status == 422 and key not in str(raised.value) and key not in repr(raised.value)
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
