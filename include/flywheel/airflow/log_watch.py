"""Runs that start from data: an asset per workload's logs whose watcher runs on the triggerer.

``flywheel://logs/<workload_id>`` carries an :class:`~airflow.sdk.AssetWatcher` with a :class:`LogWatchTrigger`
(a ``BaseEventTrigger``: no worker slot). The trigger looks at the log source every ``trigger.poll_s``:

- file source: the complete lines appended since it last looked (it keeps the byte offset), counted for the
  workload, with their tool/class labels;
- Elasticsearch: a count query (``workload_id`` / ``client_id`` filter) through connection ``flywheel_es``;
  the label drift needs the records themselves, so it is judged on file sources only.

It emits an event when at least ``min_new_records`` arrived since the last event, or (on at least half that
many) when the labels' Jensen-Shannon divergence from those seen at the last event exceeds
``max_label_drift``; never sooner than ``min_interval`` after the last event. Its watermark (offset or count,
the labels, the last event's time) lives in Airflow's asset state store, so a restarted triggerer goes on
from where it was. The workload's DAG is scheduled on its cron OR this asset (:func:`schedule_for`), and
:func:`trigger_reason` tells the report why a run started.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from flywheel.airflow.connections import ES_CONN, es_client_from_connection
from flywheel.config import FlywheelConfig, WorkloadConfig
from flywheel.serving.drift import FileTail, js_divergence

log = logging.getLogger(__name__)
LOGS_URI = "flywheel://logs/{workload_id}"


def logs_uri(workload_id: str) -> str:
    return LOGS_URI.format(workload_id=workload_id)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def decide(
    new_records: int,
    drift: float | None,
    since_last_s: float | None,
    min_new_records: int,
    max_label_drift: float | None,
    min_interval_s: float,
) -> str | None:
    """Why an event is due now ("new_records", "label_drift"), or None."""
    if since_last_s is not None and since_last_s < min_interval_s:
        return None
    if new_records >= min_new_records:
        return "new_records"
    floor = max(1, min_new_records // 2)
    if max_label_drift is not None and drift is not None and new_records >= floor and drift > max_label_drift:
        return "label_drift"
    return None


class LogWatchTrigger(BaseEventTrigger):
    def __init__(
        self,
        workload_id: str,
        kind: str,
        min_new_records: int,
        min_interval_s: float,
        poll_s: float,
        max_label_drift: float | None = None,
        path: str | None = None,
        index: str | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__()
        self.workload_id, self.kind, self.path, self.index, self.client_id = workload_id, kind, path, index, client_id
        self.min_new_records, self.max_label_drift = min_new_records, max_label_drift
        self.min_interval_s, self.poll_s = min_interval_s, poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workload_id": self.workload_id,
                "kind": self.kind,
                "min_new_records": self.min_new_records,
                "min_interval_s": self.min_interval_s,
                "poll_s": self.poll_s,
                "max_label_drift": self.max_label_drift,
                "path": self.path,
                "index": self.index,
                "client_id": self.client_id,
            },
        )

    # ------------------------------------------------------------------ watermark (asset state store)
    async def _get(self, key: str) -> Any:
        store = self.asset_state_store
        if store is None:
            return None
        try:
            return await store.aget(key)
        except Exception:  # the store is a convenience: without it the watcher starts from the present
            log.warning("asset state store unreadable for %s; starting from the present", self.workload_id)
            return None

    async def _set(self, key: str, value: Any) -> None:
        store = self.asset_state_store
        if store is None:
            return
        try:
            await store.aset(key, value)
        except Exception:
            log.warning("asset state store not writable for %s", self.workload_id)

    # ------------------------------------------------------------------ sources
    def _es_count(self) -> int:

        client = es_client_from_connection(ES_CONN)
        if client is None:
            raise RuntimeError(f"log_source 'elasticsearch' needs connection '{ES_CONN}'")
        filters: list[dict[str, object]] = [{"term": {"workload_id": self.workload_id}}]
        if self.client_id:
            filters.append({"term": {"client_id": self.client_id}})
        answer = client.count(index=self.index, query={"bool": {"filter": filters}})
        return int(answer["count"])

    async def run(self) -> AsyncIterator[TriggerEvent]:
        fired_at = await self._get("fired_at")
        baseline: Counter[str] = Counter(await self._get("labels") or {})
        tail = FileTail(self.path or "", self.workload_id)
        es_base: int | None = None
        if self.kind == "file":
            offset = await self._get("offset")
            if isinstance(offset, int):
                tail.offset = offset
            else:  # first start: what is already there is the baseline, not new
                await asyncio.to_thread(tail.read)
                baseline, tail.new_records, tail.new_labels = tail.new_labels, 0, Counter()
                await self._set("offset", tail.offset)
                await self._set("labels", dict(baseline))
        else:
            stored = await self._get("count")
            es_base = stored if isinstance(stored, int) else await asyncio.to_thread(self._es_count)
            await self._set("count", es_base)
        log.info("watching the logs of %s (%s) for %d new records", self.workload_id, self.kind, self.min_new_records)
        while True:
            drift: float | None = None
            if self.kind == "file":
                await asyncio.to_thread(tail.read)
                new = tail.new_records
                if new and baseline:
                    drift = js_divergence(baseline, tail.new_labels)
            else:
                count = await asyncio.to_thread(self._es_count)
                assert es_base is not None
                if count < es_base:  # records were deleted (retention): count from here
                    es_base = count
                new = count - es_base
            now = time.time()
            since = None if not isinstance(fired_at, int | float) else now - fired_at
            reason = decide(new, drift, since, self.min_new_records, self.max_label_drift, self.min_interval_s)
            if reason is not None:
                payload = {
                    "workload_id": self.workload_id,
                    "reason": reason,
                    "records_since": new,
                    "drift": None if drift is None else round(drift, 4),
                    "min_new_records": self.min_new_records,
                    "max_label_drift": self.max_label_drift,
                    "window_start": _iso(fired_at if isinstance(fired_at, int | float) else None),
                    "observed_at": _iso(now),
                    "source": f"file:{self.path}" if self.kind == "file" else f"elasticsearch:{self.index}",
                }
                fired_at = now
                if self.kind == "file":
                    baseline = tail.new_labels if sum(tail.new_labels.values()) else baseline
                    tail.new_records, tail.new_labels = 0, Counter()
                    await self._set("offset", tail.offset)
                    await self._set("labels", dict(baseline))
                else:
                    es_base += new  # type: ignore[operator]
                    await self._set("count", es_base)
                await self._set("fired_at", fired_at)
                log.info("logs of %s: %s (%d new, drift %s): event", self.workload_id, reason, new, drift)
                yield TriggerEvent(payload)
            await asyncio.sleep(self.poll_s)


def log_asset(cfg: FlywheelConfig, w: WorkloadConfig) -> Any:
    """The workload's log asset, with the watcher when the workload has a ``trigger`` (else a plain asset)."""
    from airflow.sdk import Asset, AssetWatcher

    name = f"flywheel_logs_{w.workload_id}"
    uri = logs_uri(w.workload_id)
    if w.trigger is None:
        return Asset(uri=uri, name=name, group="flywheel")
    src = cfg.log_source
    trigger = LogWatchTrigger(
        workload_id=w.workload_id,
        kind=src.kind,
        min_new_records=w.trigger.min_new_records,
        max_label_drift=w.trigger.max_label_drift,
        min_interval_s=w.trigger.min_interval.total_seconds(),
        poll_s=w.trigger.poll_s,
        path=src.path if src.kind == "file" else None,
        index=src.index if src.kind == "elasticsearch" else None,
        client_id=w.client_id,
    )
    return Asset(uri=uri, name=name, group="flywheel", watchers=[AssetWatcher(name=f"{name}_watcher", trigger=trigger)])


def schedule_for(cfg: FlywheelConfig, w: WorkloadConfig) -> Any:
    """The workload DAG's ``schedule``: its cron OR its log asset when it has a ``trigger``, else the cron."""
    cron = cfg.schedule_for(w)
    if w.trigger is None:
        return cron
    asset = log_asset(cfg, w)
    if cron is None:
        return asset
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=asset)


def trigger_reason(context: Mapping[str, Any], workload_id: str) -> dict[str, object]:
    """Why this run started, for the report (key ``trigger_reason``): the log watcher's figures when a log
    event started it, else the run type (``scheduled``, ``manual``, ``asset_triggered``)."""
    dag_run = context.get("dag_run")
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", "")) or "")
    events = context.get("triggering_asset_events") or {}
    uri = logs_uri(workload_id)
    for key, evs in events.items() if hasattr(events, "items") else []:
        if getattr(key, "uri", key) != uri or not evs:
            continue
        extra = getattr(evs[-1], "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        if isinstance(payload, Mapping):
            return {"started_by": "log_watch", "asset": uri, **{str(k): v for k, v in payload.items()}}
    return {"started_by": run_type or "unknown"}
