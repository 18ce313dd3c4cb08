"""Base of every operator that talks to the NeMo platform: config, client, and the deferrable wait.

Outages: a step that cannot observe the platform (unreachable, 429, 5xx after the client's retries) does
not fail its task. ``@tolerates_outage`` defers it (no worker slot held) and runs it again with backoff
until ``platform.outage_timeout_s`` after the first failed attempt, so an outage shorter than that never
costs a task try, whatever the retry settings. The platform *answering* that something failed is not an
outage and still fails the task.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import TaskDeferred

from flywheel.airflow.connections import NEMO_CONN
from flywheel.airflow.hooks import NemoHook
from flywheel.config import load_config
from flywheel.platforms.core.errors import is_unobserved
from flywheel.platforms.core.retry import Backoff
from flywheel.platforms.marks import run_key
from flywheel.run.experiment import WaitEvent

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig
    from flywheel.platforms.port import Platform


class NemoOperator(BaseOperator):
    def __init__(self, *, config_path: str | None = None, conn_id: str = NEMO_CONN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path, self.conn_id = config_path, conn_id

    def cfg(self) -> FlywheelConfig:
        if not hasattr(self, "_cfg"):
            self._cfg = load_config(self.config_path)
        return self._cfg

    def hook(self) -> NemoHook:
        if not hasattr(self, "_hook"):
            self._hook = NemoHook.from_config(self.cfg(), self.conn_id)
        return self._hook

    def client(self) -> Platform:
        return self.hook().get_conn()

    @staticmethod
    def run_key(context: Any) -> str:
        """The owner mark put on what this DAG run creates on the platform."""
        return run_key(context["dag"].dag_id, context["run_id"])

    @staticmethod
    def deadline(context: Any, name: str, timeout_s: float) -> float:
        """Absolute deadline (epoch s) of wait ``name``: fixed the first time any try asks, kept in the task
        state store, so retries and triggerer restarts do not reset the clock."""
        store = context["task_state_store"]
        key = f"deadline:{name}"
        value = store.get(key)
        if value is None:
            value = time.time() + timeout_s
            store.set(key, value)
        return float(value)

    def retry_step(self, context: Any, step: str, original: Any = None, event: Any = None) -> Any:
        """Resume point after an outage pause: run ``step`` again with the event it first received."""
        method = getattr(self, step)
        return method(context) if step == "execute" else method(context, event=original)

    def defer_floor_s(self) -> float:
        """No wait ends sooner than this after deferring (config ``platform.min_defer_s``).

        The executor reports the deferring execution's exit only when this worker's task supervisor
        returns: up to ``[workers] min_heartbeat_interval`` after the task process exited (it sleeps that
        long in ``select`` when the process closed its sockets before it could be reaped). If the scheduler
        handles that report after the resumed try was queued, Airflow 3.3 fails the task
        (apache/airflow#72716), so the trigger must not fire before then.
        """
        return conf.getfloat("workers", "min_heartbeat_interval") + self.cfg().platform.min_defer_s

    def platform_wait(self, cls: Any, ref: str, end_time: float, **kw: Any) -> Any:
        """A wait trigger of class ``cls`` on ``ref`` with the platform settings from config."""
        p = self.cfg().platform
        return cls(
            ref=ref,
            conn_id=self.conn_id,
            namespace=p.namespace,
            end_time=end_time,
            poll_initial_s=p.poll_initial_s,
            poll_max_s=p.poll_max_s,
            request_timeout_s=p.request_timeout_s,
            max_retries=p.max_retries,
            platform_kind=p.kind,
            **kw,
        )

    def wait_for(self, context: Any, trigger: Any, method_name: str) -> Any:
        """Continue with ``method_name`` once ``trigger``'s wait is over: inline when it already is (or gets
        there within ``platform.inline_wait_s``), since a deferral round trip costs seconds; else deferred."""
        event = self.already_over(trigger)
        if event is not None:
            self.log.info("%s: %s without deferring", trigger.label(), event["status"])
            return getattr(self, method_name)(context, event=event)
        trigger.not_before = time.time() + self.defer_floor_s()
        self.defer(trigger=trigger, method_name=method_name)

    def already_over(self, trigger: Any) -> WaitEvent | None:
        """The wait's event if it is over within ``platform.inline_wait_s`` (short polls with the sync
        client, through the trigger's own observation code), else None."""
        budget = self.cfg().platform.inline_wait_s
        if budget <= 0:
            return None
        give_up, pauses = time.monotonic() + budget, Backoff(initial_s=0.1, cap_s=0.5, factor=2.0, jitter=0.0)
        with self.client() as c:
            while True:
                event = asyncio.run(trigger.check_once(c))
                pause = pauses.next()
                if event is not None or time.monotonic() + pause > give_up:
                    return event
                time.sleep(pause)


def tolerates_outage(step: Callable[..., Any]) -> Callable[..., Any]:
    """Run an operator step; when the platform cannot be observed, pause (deferred) and run it again."""

    @functools.wraps(step)
    def wrapper(self: NemoOperator, context: Any, *args: Any, **kwargs: Any) -> Any:
        store = context["task_state_store"]
        try:
            result = step(self, context, *args, **kwargs)
        except TaskDeferred:
            _outage_over(store)
            raise
        except Exception as exc:
            if not is_unobserved(exc):
                raise
            p = self.cfg().platform
            first = store.get("outage_since")
            if first is None:
                first = time.time()
                store.set("outage_since", first)
            waited = time.time() - float(first)
            if waited >= p.outage_timeout_s:
                self.log.error("platform still unobservable after %.0fs (outage_timeout_s): %s", waited, exc)
                raise
            pauses = int(store.get("outage_pauses") or 0) + 1
            store.set("outage_pauses", pauses)
            pause = Backoff(initial_s=p.poll_initial_s, cap_s=p.poll_max_s, factor=2.0).delay(pauses)
            pause = max(pause, self.defer_floor_s())
            self.log.warning(
                "%s: cannot observe the platform (%s); trying again in %.0fs (outage for %.0fs, limit %.0fs)",
                step.__name__,
                exc,
                pause,
                waited,
                p.outage_timeout_s,
            )
            self.defer(
                trigger=TimeDeltaTrigger(timedelta(seconds=pause)),
                method_name="retry_step",
                kwargs={"step": step.__name__, "original": kwargs.get("event")},
            )
        _outage_over(store)
        return result

    return wrapper


def _outage_over(store: Any) -> None:
    if store.get("outage_since") is not None:
        store.delete("outage_since")
        store.delete("outage_pauses")
