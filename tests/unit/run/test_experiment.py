"""The experiment step against the NeMo emulator: create, attach after a restart, observe a failure, renew a
failed job, cancel, release; each call's decision is what the Airflow adapter would execute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.platforms.core.configs import evaluation_config, evaluation_target
from flywheel.platforms.marks import OwnerMark
from flywheel.platforms.nmp.client import NemoClient
from flywheel.run.experiment import (
    Deployment,
    ExperimentStep,
    Fail,
    Finish,
    LeaseTerms,
    Resource,
    Wait,
    seen_deployment,
    seen_job,
)
from flywheel.run.lease import GpuLease
from flywheel.run.store import MemoryStore
from tests.support.waiting import wait_for
from tests.unit.run.emulated import NIMS, Emulated, running_emulator, step


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    yield from running_emulator(tmp_path_factory.mktemp("experiment-emulator"))


@pytest.fixture
def emu(emulator_server: Emulated) -> Emulated:
    emulator_server.reset()
    return emulator_server


def deployment(s: ExperimentStep, index: int = 0) -> Deployment:
    def ready(ref: str) -> Wait:
        return Wait("deployment_ready", ref, 600, "ready")

    return Deployment(s, NIMS[index], GpuLease(1), LeaseTerms(60, 5), ready, lambda kind, ref: f"{kind}/{ref}")


RECORD = {
    "request": {"messages": [{"role": "user", "content": "Stocks rally"}]},
    "response": {"choices": [{"message": {"role": "assistant", "content": "[up]"}}]},
}


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "eval_data.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    return path


def evaluation(s: ExperimentStep, c: NemoClient, model: str, data: Path) -> Resource:
    def create(request_id: str) -> str:
        c.ensure_namespace()
        files_url = c.upload_dataset("flywheel-eval-test", {"eval_data.jsonl": data})
        config = evaluation_config("classification", f"{files_url}/eval_data.jsonl", None, 5)
        return c.create_evaluation(config, evaluation_target(model), request_id)

    return Resource(
        kind="evaluation",
        find=c.find_evaluation,
        observe=lambda ref: seen_job(c.get_evaluation(ref)),
        create=create,
        wait=lambda ref: Wait("job", ref, 600, "done"),
    )


def ready(c: NemoClient, name: str) -> None:
    wait_for(lambda: seen_deployment(c.get_deployment(name)).succeeded, 20, f"deployment {name} ready")
    model = NIMS[0].model_name
    wait_for(lambda: model in c.list_models(), 20, f"{model} served")


def test_create_marks_the_deployment_and_remembers_when_it_started(emu: Emulated) -> None:
    store = MemoryStore()
    with emu.client() as c:
        s = step(c, store, run_id="r1", map_index=2)
        decision = s.run(deployment(s).resource())
        info = c.get_deployment(NIMS[0].deployment_name)
    assert decision == Wait("deployment_ready", NIMS[0].deployment_name, 600, "ready")
    assert s.trace.phases == ["find", "create", "observe"]
    assert info is not None and OwnerMark.read(info.custom_fields) == OwnerMark.candidate("flywheel_w/r1", 2)
    assert store.get("deployment") == NIMS[0].deployment_name and store.get("started") is not None


def test_a_restarted_step_attaches_to_what_an_earlier_try_created(emu: Emulated, eval_file: Path) -> None:
    with emu.client() as c:
        first = step(c, MemoryStore())
        first.run(deployment(first).resource())
        # a restart: a new step, and the state store lost (the owner mark on the platform is the truth)
        again = step(c, MemoryStore())
        decision = again.run(deployment(again).resource())
        ready(c, NIMS[0].deployment_name)
        # an evaluation job is found again by its deterministic request id
        store = MemoryStore()
        s = step(c, store, task="base_eval")
        job = s.run(evaluation(s, c, NIMS[0].model_name, eval_file))
        s2 = step(c, MemoryStore(), task="base_eval")
        job_again = s2.run(evaluation(s2, c, NIMS[0].model_name, eval_file))
        deployments = [d.name for d in c.list_deployments()]
    assert decision == Wait("deployment_ready", NIMS[0].deployment_name, 600, "ready")
    assert again.trace.phases == ["find", "attach", "observe"]
    assert deployments == [NIMS[0].deployment_name]
    assert isinstance(job, Wait) and job_again == job and s2.trace.phases == ["find", "attach", "observe"]


def test_an_observed_failure_fails_the_step_and_release_deletes_only_our_candidate(emu: Emulated) -> None:
    emu.faults({"kind": "job_failure", "job": "deployment", "model": NIMS[0].model_name})
    with emu.client() as c:
        s = step(c, MemoryStore())
        s.run(deployment(s).resource())
        name = NIMS[0].deployment_name
        wait_for(lambda: seen_deployment(c.get_deployment(name)).terminal, 20, f"deployment {name} failed")
        seen = seen_deployment(c.get_deployment(name))
        outcome = s.outcome("deployment", {"status": "failed", "state": seen.state, "detail": seen.detail})
        other = step(c, MemoryStore(), run_id="someone-else")
        assert other.release(name) is False  # not that run's candidate: left alone
        assert c.get_deployment(name) is not None
        assert s.release() is True
        wait_for(lambda: c.get_deployment(name) is None, 20, f"deployment {name} gone")
    assert isinstance(outcome, Fail) and outcome.message.startswith(f"deployment {name} failed: ")
    assert s.trace.phases[-2:] == ["failed", "release"]
    assert s.outcome("deployment", {"status": "success"}) == Finish(name)


def test_a_job_that_ended_failed_is_renewed_with_a_new_request_id(emu: Emulated, eval_file: Path) -> None:
    emu.faults({"kind": "job_failure", "job": "evaluation", "model": NIMS[0].model_name, "at_percent": 0})
    store = MemoryStore()
    with emu.client() as c:
        s = step(c, store)
        s.run(deployment(s).resource())
        ready(c, NIMS[0].deployment_name)
        e = step(c, store, task="base_eval")
        first = e.run(evaluation(e, c, NIMS[0].model_name, eval_file))
        assert isinstance(first, Wait)
        wait_for(lambda: seen_job(c.get_evaluation(first.ref)).terminal, 20, "evaluation failed")
        emu.faults()  # the second try is not faulted
        again = step(c, store, task="base_eval")
        second = again.run(evaluation(again, c, NIMS[0].model_name, eval_file))
    assert isinstance(second, Wait) and second.ref != first.ref
    assert store.get("generation") == 1 and store.get("evaluation") == second.ref
    assert again.trace.phases == ["find", "create", "create", "observe"]


def test_cancel_stops_the_job_the_step_started(emu: Emulated, eval_file: Path) -> None:
    emu.faults({"kind": "slow_job", "job": "evaluation", "seconds": 600})
    store = MemoryStore()
    with emu.client() as c:
        s = step(c, store)
        s.run(deployment(s).resource())
        ready(c, NIMS[0].deployment_name)
        e = step(c, store, task="base_eval")
        job = e.run(evaluation(e, c, NIMS[0].model_name, eval_file))
        assert isinstance(job, Wait) and not seen_job(c.get_evaluation(job.ref)).terminal
        stopped = e.cancel("evaluation")
        wait_for(lambda: seen_job(c.get_evaluation(job.ref)).terminal, 20, "evaluation cancelled")
        state = c.get_evaluation(job.ref).status
        assert e.cancel("evaluation") is True  # already over: nothing to do
        assert e.cancel("evaluation", "eval-unknown") is True  # a job the platform does not know is gone
    assert state == "cancelled" and isinstance(stopped, bool)
    assert "cancel" in e.trace.phases
