"""Cancelling Helix evaluation jobs the way a run's end does (teardown, mark-failed, timeout) stops them.

Helix 0.8.1 cancels a job still ``created`` on the spot, even when its scheduler has just started the job's
process, which then runs on while the job reads ``cancelled``: our client lets such a job move on first.
(The other Helix quirk, a cancelled job older than ``ttl_seconds_before_active`` ending ``error``, is our
local config's to avoid: see ``config/helix/local.yaml``.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flywheel.localstack.helix import HelixServices, descendants
from flywheel.platforms.helix import payloads as P
from flywheel.platforms.helix.client import HelixClient
from tests.integration.emulator.conftest import Emulator
from tests.support.waiting import wait_for
from tests.unit.emulator.records import tool_record

from .helpers import CANDIDATE, MARKS, deploy_candidate, seed_eval, serve

pytestmark = [pytest.mark.helix, pytest.mark.integration, pytest.mark.timeout(300)]


def job_processes(helix: HelixServices, names: list[str]) -> dict[int, str]:
    """The live processes below Helix that run one of the jobs ``names`` (by the job id in their env)."""
    found = {}
    for pid in descendants(helix.pid):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        job = next((v for k, _, v in (kv.partition("=") for kv in env) if k.endswith("JOB_ID") and v in names), None)
        if job:
            found[pid] = job
    return found


def test_jobs_cancelled_while_just_scheduled_stop_and_read_cancelled(
    helix: HelixServices, emu: Emulator, client: HelixClient
) -> None:
    # slow answers keep a job's process busy well past the checks below if a cancel missed it
    emu.call("POST", "/emulator/faults", json=[{"kind": "latency", "endpoint": "nim.chat", "seconds": 1.5}])
    deploy_candidate(client)
    entity = serve(client, emu, [CANDIDATE])[CANDIDATE]
    dataset = seed_eval(client, emu, "eval", [tool_record(i) for i in range(60)])
    names = [f"cancel-created-{i}" for i in range(3)]
    for name in names:
        spec = P.evaluation_spec("tool_calling", dataset, client.target(entity), None, None)
        client.start_evaluation(P.evaluation_job(name, spec, MARKS))
    # Helix's scheduler starts a job's process before the job leaves `created`: cancel each job as soon as
    # its process runs (a plain POST .../cancel then orphaned the process whenever the job still read `created`)
    at_cancel: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(at_cancel) < len(names) and time.monotonic() < deadline:
        for name in set(job_processes(helix, names).values()) - set(at_cancel):
            at_cancel[name] = client.evaluation_state(name).raw["status"]
            client.cancel_evaluation(name)
        time.sleep(0.05)
    assert set(at_cancel) == set(names), at_cancel
    wait_for(lambda: all(client.evaluation_state(n).terminal for n in names) or None, 120, "jobs stopped")
    assert {n: client.evaluation_state(n).status for n in names} == dict.fromkeys(names, "cancelled"), at_cancel
    time.sleep(2)  # a process Helix lost track of would still be answering its slow rows now
    assert job_processes(helix, names) == {}, at_cancel
