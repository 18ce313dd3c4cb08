"""The run's last word on the platform: nothing it started may outlive it.

Teardowns and trigger ``on_kill`` release GPU work in the normal and the user-killed cases, but two paths
reach neither: a failed setup gets no teardown, and a trigger cancelled (run marked failed) before the
triggerer started it never runs ``on_kill``. ``sweep_run`` runs in ``check_results`` (a teardown that
always runs, after every other task) and deletes any candidate deployment this run still owns, cancels
its customization jobs that are still running and releases what it registered for candidates served
elsewhere (Helix providers).
"""

from __future__ import annotations

import logging

from flywheel.airflow.hooks import NemoHook
from flywheel.config import load_config
from flywheel.platforms.core.errors import NemoNotFoundError, is_unobserved
from flywheel.platforms.marks import JobMark, OwnerMark, is_own_candidate, run_key

log = logging.getLogger(__name__)


def sweep_run(config_path: str | None, dag_id: str, workload_id: str, run_id: str) -> dict[str, list[str]]:

    owner = run_key(dag_id, run_id)
    deleted: list[str] = []
    cancelled: list[str] = []
    cfg = load_config(config_path)
    try:
        with NemoHook.from_config(cfg).get_conn() as c:
            for nim in cfg.nims:
                if nim.served_url and c.release_candidate(nim, OwnerMark.candidate(owner).fields()):
                    deleted.append(f"registration of {nim.model_name}")
            for d in c.list_deployments():
                if is_own_candidate(d.custom_fields, owner):
                    c.delete_deployment(d.name)
                    deleted.append(d.name)
            for job_id, state, fields in c.list_customizations():
                if not state.terminal and JobMark.of_run(fields, workload_id, run_id):
                    try:
                        c.cancel_customization(job_id)
                    except NemoNotFoundError:  # gone since it was listed: nothing left to stop
                        continue
                    cancelled.append(job_id)
    except Exception as exc:
        if not is_unobserved(exc):
            raise
        # the teardowns normally left nothing; an outage now must not fail a good run's verdict
        log.warning("could not check the platform for GPU work run %s left behind: %s", owner, exc)
    if deleted or cancelled:
        log.warning("run %s left GPU work behind: deleted %s, cancelled %s", owner, deleted, cancelled)
    return {"deleted": deleted, "cancelled": cancelled}
