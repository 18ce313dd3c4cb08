"""Repro DAGs for benchmarks/defer_race.py: deferrable tasks whose trigger fires (almost) at once.

Each mapped task defers ``hops`` times in a row on a ``DateTimeTrigger`` ``delay_s`` after it deferred,
so every resume races the scheduler's handling of the executor event of the deferring execution's exit.
``defer_race_plain`` defers and does nothing else; ``defer_race_finally`` writes the task state store and
an XCom in a ``finally`` around ``self.defer()`` as ``flywheel.airflow.experiments.on_worker`` does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator, Param


class ChainDeferOperator(BaseOperator):
    template_fields = ("delay_s",)

    def __init__(self, *, hops: int, delay_s: Any, finally_writes: bool, item: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hops, self.delay_s, self.finally_writes, self.item = hops, delay_s, finally_writes, item

    def execute(self, context: Any) -> Any:
        return self._step(context, 0)

    def resume(self, context: Any, event: Any = None, hop: int = 0) -> Any:
        return self._step(context, hop)

    def _step(self, context: Any, hop: int) -> Any:
        if not self.finally_writes:
            return self._defer_or_finish(hop)
        try:
            return self._defer_or_finish(hop)
        finally:
            store = context["task_state_store"]
            store.set("hops", hop)
            context["ti"].xcom_push(key="hops", value=hop)

    def _defer_or_finish(self, hop: int) -> Any:
        if hop >= self.hops:
            return hop
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
        from airflow.sdk import timezone

        moment = timezone.utcnow() + timedelta(seconds=float(self.delay_s))
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="resume", kwargs={"hop": hop + 1})


for name, writes in (("defer_race_plain", False), ("defer_race_finally", True)):
    with DAG(
        dag_id=name,
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        params={"delay_s": Param(0.0, type="number", minimum=0)},
        tags=["benchmark"],
    ):
        ChainDeferOperator.partial(
            task_id="chain", hops=4, delay_s="{{ params.delay_s }}", finally_writes=writes, retries=0
        ).expand(item=list(range(5)))
