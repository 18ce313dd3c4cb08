"""Fidelity: every emulator v2 response and every request our adapter builds is checked by the Helix SDK's
own pydantic types (strict, in the Helix interpreter) and by the served ``openapi.json`` of the real Helix
with closed objects; a changed field fails the check (proved by mutating a few)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.config import LoraConfig, NimConfig, TrainingConfig
from flywheel.localstack.helix import HelixServices
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.client import HelixClient
from flywheel.platforms.helix.standin import adapter_route
from tests.integration.emulator.conftest import Emulator
from tests.support.waiting import wait_for

from .conftest import sdk_check
from .helpers import CANDIDATE, MARKS

pytestmark = [pytest.mark.helix, pytest.mark.integration]

TYPES = "nemo_helix_plugin.models.types"
AUTOMODEL = "nemo_automodel_plugin.schema"
JOB_STATUS = "nemo_helix_plugin.jobs.schemas:HelixJobStatusResponse"


def case(cid: str, sdk: str | None, schema: str | None, payload: Any) -> dict[str, Any]:
    return {"id": cid, "sdk": sdk, "schema": schema, "payload": payload}


def _ok(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json() if r.content else None


def deployment_cases(emu: Emulator, ws: str) -> list[dict[str, Any]]:
    base = f"{emu.url}/apis/models/v2/workspaces/{ws}"
    out = []
    for model, fail in ((CANDIDATE, False), ("meta/llama-3.2-3b-instruct", True)):
        name = P.helix_name("dfw", model)
        if fail:
            emu.faults([{"kind": "job_failure", "job": "deployment", "model": model, "message": "no GPU driver"}])
        config = P.deployment_config_body(NimConfig(model_name=model, image="nvcr.io/nim/x"), name, MARKS, lora=True)
        out.append(
            case(
                f"config-request-{name}",
                f"{TYPES}:CreateModelDeploymentConfigRequest",
                "CreateModelDeploymentConfigRequest",
                config,
            )
        )
        got = _ok(httpx.post(f"{base}/deployment-configs", json=config), 201)
        out.append(case(f"config-{name}", f"{TYPES}:ModelDeploymentConfig", "ModelDeploymentConfig", got))
        out.append(
            case(
                f"config-get-{name}",
                f"{TYPES}:ModelDeploymentConfig",
                "ModelDeploymentConfig",
                _ok(httpx.get(f"{base}/deployment-configs/{name}"), 200),
            )
        )
        body = P.deployment_body(name, name)
        out.append(
            case(
                f"deployment-request-{name}",
                f"{TYPES}:CreateModelDeploymentRequest",
                "CreateModelDeploymentRequest",
                body,
            )
        )
        seen: dict[str, Any] = {}
        first = _ok(httpx.post(f"{base}/deployments", json=body), 201)
        seen[first["status"]] = first
        end = "ERROR" if fail else "READY"

        def reached(name: str = name, end: str = end, seen: dict[str, Any] = seen) -> bool:
            got = _ok(httpx.get(f"{base}/deployments/{name}"), 200)
            seen.setdefault(got["status"], got)
            return got["status"] == end

        wait_for(reached, 20, f"{name} {end}", 0.02)
        assert set(seen) >= {"CREATED", end}
        out += [
            case(f"deployment-{name}-{s}", f"{TYPES}:ModelDeployment", "ModelDeployment", d) for s, d in seen.items()
        ]
    out.append(case("deployment-list", None, "Page_ModelDeployment_", _ok(httpx.get(f"{base}/deployments"), 200)))
    return out


def automodel_cases(emu: Emulator, ws: str) -> list[dict[str, Any]]:
    base = f"{emu.url}/apis/customization/v2/workspaces/{ws}/automodel/jobs"
    out = []
    model = f"{ws}/{P.entity_name(CANDIDATE)}"
    for name, cancel in (("lora-done", False), ("lora-cancelled", True)):
        body = P.automodel_job(
            name, model, f"{ws}/train", f"{ws}/val", f"{name}-adapter", TrainingConfig(), LoraConfig(), MARKS
        )
        out.append(case(f"automodel-request-{name}", None, "AutomodelJobsJobRequest", body))
        out.append(
            case(f"automodel-spec-request-{name}", f"{AUTOMODEL}:AutomodelJobInput", "AutomodelJobInput", body["spec"])
        )
        job = _ok(httpx.post(base, json=body), 201)
        out.append(case(f"automodel-{name}", None, "AutomodelJobsJob", job))
        out.append(case(f"automodel-spec-{name}", f"{AUTOMODEL}:AutomodelJobOutput", "AutomodelJobOutput", job["spec"]))
        if cancel:
            out.append(
                case(
                    f"automodel-cancel-{name}", None, "AutomodelJobsJob", _ok(httpx.post(f"{base}/{name}/cancel"), 200)
                )
            )
        seen: dict[str, Any] = {}
        end = "cancelled" if cancel else "completed"

        def reached(name: str = name, end: str = end, seen: dict[str, Any] = seen) -> bool:
            got = _ok(httpx.get(f"{base}/{name}/status"), 200)
            seen.setdefault(got["status"], got)
            return got["status"] == end

        wait_for(reached, 30, f"{name} {end}", 0.02)
        out += [case(f"automodel-status-{name}-{s}", JOB_STATUS, "HelixJobStatusResponse", d) for s, d in seen.items()]
        out.append(case(f"automodel-get-{name}", None, "AutomodelJobsJob", _ok(httpx.get(f"{base}/{name}"), 200)))
    out.append(case("automodel-list", None, "Page_AutomodelJobsJob_", _ok(httpx.get(base), 200)))
    return out


def standin_cases(ws: str) -> list[dict[str, Any]]:
    """What the adapter sends to route a stand-in adapter, serve a candidate from elsewhere, and mark a model."""
    base = f"{ws}/{P.entity_name(CANDIDATE)}"
    job = {"name": "cust-abc", "spec": {"model": base, "output": {"name": "my-adapter"}}}
    ours = {**P.provider_body("dep", "http://127.0.0.1:9", [CANDIDATE], MARKS), "served_models": []}
    ours["served_models"] = [{"model_entity_id": base, "served_model_name": CANDIDATE}]
    route = adapter_route(job, [ours], ws)
    assert route is not None
    served = NimConfig(model_name="meta/llama-3.3-70b-instruct", served_url="http://127.0.0.1:9")
    name = P.served_provider_name(served, MARKS["flywheel_run"])
    return [
        case("adapter-provider-request", f"{TYPES}:CreateModelProviderRequest", "CreateModelProviderRequest", route[0]),
        case(
            "adapter-route-request",
            f"{TYPES}:UpdateModelProviderStatusRequest",
            "UpdateModelProviderStatusRequest",
            route[1],
        ),
        case(
            "served-provider-request",
            f"{TYPES}:CreateModelProviderRequest",
            "CreateModelProviderRequest",
            P.provider_body(name, str(served.served_url), [served.model_name], MARKS),
        ),
        case(
            "served-keyed-provider-request",
            f"{TYPES}:CreateModelProviderRequest",
            "CreateModelProviderRequest",
            P.provider_body(
                name,
                str(served.served_url),
                [served.model_name],
                MARKS,
                P.served_secret_name(str(served.served_url), served.model_name),
            ),
        ),
        case("entity-request", f"{TYPES}:CreateModelEntityRequest", "CreateModelEntityRequest", {"name": "m-1"}),
        case(
            "mark-request",
            f"{TYPES}:UpdateModelEntityRequest",
            "UpdateModelEntityRequest",
            {"custom_fields": {"flywheel_adapters": {f"{base}&adapters/{ws}/a": {"flywheel_promoted": True}}}},
        ),
    ]


def request_cases(helix: HelixServices, ws: str) -> list[dict[str, Any]]:
    out = [
        case("workspace-request", None, "WorkspaceInput", P.workspace_body(ws, "flywheel")),
        case(
            "fileset-request",
            "nemo_helix_plugin.files.types:CreateFilesetRequest",
            "CreateFilesetRequest",
            P.fileset_body("eval", "held out"),
        ),
        case(
            "provider-request",
            f"{TYPES}:CreateModelProviderRequest",
            "CreateModelProviderRequest",
            P.provider_body("emu", "http://127.0.0.1:9", [CANDIDATE], MARKS),
        ),
        *standin_cases(ws),
    ]
    client = HelixClient(helix.url, ws)
    target, judge = client.target(f"{ws}/cand"), client.target(f"{ws}/judge")
    remote = "https://judge.example/v1/chat/completions"
    secret = P.judge_secret_name(remote, "meta/llama-3.3-70b-instruct")
    keyed = P.ModelTarget(remote, "meta/llama-3.3-70b-instruct", secret)  # a remote judge whose key is a secret
    for wt in ("generic", "tool_calling", "classification"):
        for tag, with_judge in (("judge", judge), ("nojudge", None), ("keyed-judge", keyed)):
            if (wt == "generic" and not with_judge) or (wt == "classification" and with_judge is keyed):
                continue
            spec = P.evaluation_spec(wt, f"{ws}/eval", target, with_judge, 50)
            body = P.evaluation_job(P.helix_name("eval", wt), spec, MARKS)
            out.append(case(f"evaluate-request-{wt}-{tag}", None, "EvaluateJobRequest", body))
            out.append(case(f"evaluate-spec-{wt}-{tag}", "nemo_evals.jobs.evaluate:EvaluateInputSpec", None, spec))
    secrets = "nemo_helix_plugin.secrets.types"
    description = P.judge_secret_description(remote, keyed.name)
    out += [
        case(
            "secret-create-request",
            f"{secrets}:HelixSecretCreateRequest",
            "HelixSecretCreateRequest",
            P.secret_body(secret, "sk-test", description),
        ),
        case(
            "secret-update-request",
            f"{secrets}:HelixSecretUpdateRequest",
            "HelixSecretUpdateRequest",
            P.secret_update_body("sk-test-2", description),
        ),
    ]
    client.close()
    return out


def test_emulator_v2_and_adapter_payloads_match_the_helix_sdk_and_openapi(
    helix: HelixServices, emu: Emulator, openapi: dict[str, Any], tmp_path: Path
) -> None:
    ws = f"fidelity-{int(time.time())}"
    cases = deployment_cases(emu, ws) + automodel_cases(emu, ws) + request_cases(helix, ws)
    assert len(cases) > 40
    problems = sdk_check(helix, openapi, cases, tmp_path)
    assert set(problems) == {c["id"] for c in cases}
    assert {cid: p for cid, p in problems.items() if p} == {}

    # a changed field fails it: renamed, wrong type, unknown enum value, missing required
    mutated = []
    by_id = {c["id"]: c for c in cases}
    ready = next(c for c in cases if c["id"].endswith("-READY"))
    d = copy.deepcopy(ready)
    d["payload"]["state"] = d["payload"].pop("status")
    mutated.append({**d, "id": "renamed-status"})
    d = copy.deepcopy(ready)
    d["payload"]["status"] = "RUNNING"
    mutated.append({**d, "id": "unknown-status"})
    spec = copy.deepcopy(by_id["automodel-spec-lora-done"])
    spec["payload"]["output"]["file_set"] = spec["payload"]["output"].pop("fileset")
    mutated.append({**spec, "id": "renamed-output-fileset"})
    status = copy.deepcopy(by_id["automodel-status-lora-done-completed"])
    status["payload"]["created_at"] = 12
    mutated.append({**status, "id": "created-at-not-a-date"})
    evaluate = copy.deepcopy(by_id["evaluate-spec-tool_calling-judge"])
    del evaluate["payload"]["metrics"][0]["payload"]["metric"]["type"]
    mutated.append({**evaluate, "id": "metric-without-type"})
    keyed = copy.deepcopy(by_id["evaluate-spec-generic-keyed-judge"])
    keyed["payload"]["metrics"][0]["secrets"] = {"FLYWHEEL_JUDGE": {"name": "x"}}  # a secret is named by a string
    mutated.append({**keyed, "id": "judge-secret-not-a-name"})
    secret = copy.deepcopy(by_id["secret-create-request"])
    secret["payload"]["secret"] = secret["payload"].pop("value")
    mutated.append({**secret, "id": "secret-without-value"})
    found = sdk_check(helix, openapi, mutated, tmp_path)
    assert {cid for cid, p in found.items() if not p} == set(), found
