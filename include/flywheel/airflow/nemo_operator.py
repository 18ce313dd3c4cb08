"""Base of every operator that talks to the NeMo platform: config, client, and the deferrable wait."""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseOperator

from flywheel.airflow.connections import NEMO_CONN


class NemoOperator(BaseOperator):
    def __init__(self, *, config_path: str | None = None, conn_id: str = NEMO_CONN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path, self.conn_id = config_path, conn_id

    def cfg(self) -> Any:
        from flywheel.config import load_config

        if not hasattr(self, "_cfg"):
            self._cfg = load_config(self.config_path)
        return self._cfg

    def client(self) -> Any:
        from flywheel.airflow.connections import nemo_endpoints
        from flywheel.nemo import NemoClient

        return NemoClient(nemo_endpoints(self.cfg(), self.conn_id))

    @staticmethod
    def run_key(context: Any) -> str:
        """The owner mark put on what this DAG run creates on the platform."""
        return f"{context['dag'].dag_id}/{context['run_id']}"

    def defer_floor_s(self) -> float:
        """No wait ends sooner than this after deferring (config ``platform.min_defer_s``).

        The executor reports the deferring execution's exit only when this worker's task supervisor
        returns: up to ``[workers] min_heartbeat_interval`` after the task process exited (it sleeps that
        long in ``select`` when the process closed its sockets before it could be reaped). If the scheduler
        handles that report after the resumed try was queued, Airflow 3.3 fails the task
        (apache/airflow#72716), so the trigger must not fire before then.
        """
        from airflow.sdk.configuration import conf

        return conf.getfloat("workers", "min_heartbeat_interval") + self.cfg().platform.min_defer_s

    def wait_trigger(self, kind: str, ref: str, timeout_s: float, **kw: Any) -> Any:
        """A :class:`NemoWaitTrigger` with the platform settings from config."""
        from flywheel.airflow.triggers import NemoWaitTrigger

        p = self.cfg().platform
        return NemoWaitTrigger(
            kind=kind,
            ref=ref,
            conn_id=self.conn_id,
            namespace=p.namespace,
            poll_initial_s=p.poll_initial_s,
            poll_max_s=p.poll_max_s,
            timeout_s=timeout_s,
            pending_timeout_s=p.deployment_pending_timeout_s,
            sync_timeout_s=p.model_sync_timeout_s,
            request_timeout_s=p.request_timeout_s,
            max_retries=p.max_retries,
            not_before=time.time() + self.defer_floor_s(),
            **kw,
        )
