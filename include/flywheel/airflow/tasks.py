"""Task callables for the data side and the report (the DAG factory wraps them in ``@task``).

Each returns a small JSON-able summary (XCom carries names, counts and URIs, never records).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel

from flywheel.airflow import artifacts, trust_report
from flywheel.airflow.connections import (
    ES_CONN,
    MONGO_CONN,
    connection_secrets,
    embedding_endpoint,
    es_client_from_connection,
    judge_endpoint,
    optional_connection,
)
from flywheel.airflow.hooks import NemoHook
from flywheel.airflow.results import best_candidates, normalise, read_entry, stopped_experiments, store_in_mongo
from flywheel.airflow.run_report import publish_run_report
from flywheel.airflow.shared_nims import judge_needed
from flywheel.config import FlywheelConfig, load_config
from flywheel.decision.recommend import PRIMARY_METRIC
from flywheel.decision.report import decide
from flywheel.decision.volume import token_volume
from flywheel.jsontypes import JsonObject
from flywheel.platforms.core.embeddings import RemoteEmbedder
from flywheel.run import spec
from flywheel.run.models import (
    BuildStats,
    Built,
    CustomizeResult,
    DatasetRef,
    DecisionFields,
    Extracted,
    LatencyRun,
    NimPlan,
    Pii,
    Report,
    ResultEntry,
    RunSettings,
    TokenVolume,
    UploadedDataset,
)
from flywheel.scrub import scrub

log = logging.getLogger(__name__)
Doc = TypeVar("Doc", bound=BaseModel)
MAX_MAPPED_NIMS = 1024  # [core] max_map_length default


class TaskInstance(Protocol):
    """What the report reads from Airflow's task instance."""

    def xcom_pull(self, *, task_ids: str, key: str = ..., map_indexes: int | None = ...) -> Any: ...

    def get_task_states(self, *, dag_id: str, run_ids: list[str]) -> Any: ...


def _fail(message: str) -> NoReturn:
    raise AirflowFailException(message)


def _config(config_path: str | None) -> FlywheelConfig:
    return load_config(config_path)


# ------------------------------------------------------------------------------------------------- extract
def extract_records(
    config_path: str | None, workload_id: str, params: dict[str, object], dag_id: str, run_id: str
) -> JsonObject:
    from flywheel.records.sources import export_snapshot, open_log_source

    cfg = _config(config_path)
    settings = RunSettings.resolve(cfg, cfg.workload(workload_id), params)
    client = None
    if cfg.log_source.kind == "elasticsearch":
        client = es_client_from_connection()
        if client is None:
            _fail("log_source is elasticsearch but Airflow connection 'flywheel_es' is not defined")
    base_dir = Path(config_path).resolve().parent if config_path else None
    source = open_log_source(cfg.log_source, client=client, base_dir=base_dir)
    target = artifacts.run_uri(cfg, dag_id, run_id, "snapshot")
    local = artifacts.local_dir_for(target)
    try:
        summary = export_snapshot(
            source,
            local / "records.jsonl",
            settings.workload_id,
            settings.client_id,
            settings.since,
            settings.until,
            settings.split.limit,
        )
    except Exception as exc:  # one scrubbed line, no chained traceback that could carry the client's secrets
        where = f"index {cfg.log_source.index}" if client is not None else str(cfg.log_source.path)
        line = scrub(f"cannot read logs from {where}: {type(exc).__name__}: {exc}", connection_secrets(ES_CONN))
        raise RuntimeError(line[:500]) from None
    artifacts.publish(local, target)
    pruned = artifacts.prune_old_runs(cfg, dag_id, run_id)
    log.info(
        "extracted %s records for %s/%s into %s (rejected while reading: %s)%s",
        summary.get("written"),
        settings.workload_id,
        settings.client_id,
        target,
        summary.get("rejected") or {},
        f"; pruned {len(pruned)} old run folder(s)" if pruned else "",
    )
    return Extracted(settings=settings, snapshot=target, extract=summary).model_dump(mode="json")


# --------------------------------------------------------------------------------------------------- build
def build_datasets(config_path: str | None, extracted_json: JsonObject, dag_id: str, run_id: str) -> JsonObject:
    from flywheel.datasets import BuildOptions, DatasetError
    from flywheel.datasets import build_datasets as build

    cfg, extracted = _config(config_path), Extracted.model_validate(extracted_json)
    settings = extracted.settings
    nims = settings.nim_configs(cfg)
    options = BuildOptions(
        workload_id=settings.workload_id,
        client_id=settings.client_id,
        workload_type=settings.workload_type,
        split=settings.split,
        icl=settings.icl,
        context_length=min(n.context_length for n in nims),
        pii=cfg.pii_for(cfg.workload(settings.workload_id)),
    )
    embedder = _embedder(cfg) if settings.icl.enabled and settings.icl.selection == "semantic_similarity" else None
    snapshot = artifacts.fetch(extracted.snapshot) / "records.jsonl"
    if not snapshot.is_file():
        _fail(
            "the log snapshot of this run is gone (artifacts.raw_snapshot_days deletes it once the datasets are "
            "built): clear extract_records too to build again"
        )
    target = artifacts.run_uri(cfg, dag_id, run_id, "datasets")
    local = artifacts.local_dir_for(target)
    try:
        result = build(snapshot, options, local, embedder=embedder)
    except DatasetError as exc:
        _fail(f"cannot build datasets for {settings.workload_id}: {exc}")
    artifacts.publish(local, target)
    volume = _snapshot_volume(snapshot)  # for the report: the raw snapshot is not kept until then
    if cfg.artifacts.raw_snapshot_days == 0:
        artifacts.remove(extracted.snapshot)
        snapshot.unlink(missing_ok=True)  # the fetched copy of a remote snapshot
    stats = result.stats
    counts = {k: _count_lines(p) for k, p in result.files.items()}
    log.info(
        "datasets for %s (%s): %s; read %s, used %s, invalid %s, duplicates %s",
        settings.workload_id,
        result.workload_type,
        counts,
        stats.get("read"),
        stats.get("used"),
        stats.get("invalid"),
        stats.get("duplicates"),
    )
    return Built(
        workload_type=result.workload_type,
        uri=target,
        files={k: Path(p).name for k, p in result.files.items()},
        counts=counts,
        stats=BuildStats.model_validate({k: stats.get(k) for k in BuildStats.model_fields}),
        volume=volume,
    ).to_json()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _embedder(cfg: FlywheelConfig) -> Any:
    """Local mode: the embedding NIM ``prepare_embedder`` deployed, through the NIM proxy. Remote mode: the
    hosted URL from connection ``flywheel_embedding`` (or ``embedding.url``)."""

    e, p = cfg.embedding, cfg.platform
    if e.mode == "remote":
        url, key = embedding_endpoint(cfg)
        if not url:
            _fail(
                "embedding.mode is remote but no URL: define connection 'flywheel_embedding' "
                "(host = embeddings URL) or set embedding.url"
            )
        return RemoteEmbedder(
            str(url),
            e.model_name,
            key,
            batch_size=e.batch_size,
            timeout_s=p.request_timeout_s,
            max_retries=p.max_retries,
        )

    class NimEmbedder:
        def embed(self, texts: list[str]) -> list[list[float]]:
            with NemoHook.from_config(cfg).get_conn() as c:
                return c.embed(texts, e.model_name, batch_size=e.batch_size)

    return NimEmbedder()


# -------------------------------------------------------------------------------------------------- upload
def dataset_names(workload_id: str, dag_id: str, run_id: str) -> dict[str, str]:
    """Unique per run (the reference's names collided within a second) and valid repo names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", workload_id.lower()).strip("-")[:40]
    tag = hashlib.sha1(f"{dag_id}/{run_id}".encode()).hexdigest()[:10]
    return {kind: f"flywheel-{kind}-{slug}-{tag}" for kind in ("eval", "icl", "train")}


def upload_datasets(
    config_path: str | None, extracted: JsonObject, built_json: JsonObject, dag_id: str, run_id: str
) -> JsonObject:
    cfg, settings = _config(config_path), Extracted.model_validate(extracted).settings
    built = Built.model_validate(built_json)
    names = dataset_names(settings.workload_id, dag_id, run_id)
    local = artifacts.fetch(built.uri)
    files, counts = built.files, built.counts
    plan: dict[str, dict[str, Path]] = {"eval": {"eval_data.jsonl": local / files["eval"]}}
    if "icl" in files:
        plan["icl"] = {"eval_data.jsonl": local / files["icl"]}
    plan["train"] = {
        "training/train_data.jsonl": local / files["train"],
        "validation/val_data.jsonl": local / files["val"],
    }
    out: dict[str, UploadedDataset] = {}
    with NemoHook.from_config(cfg).get_conn() as c:
        c.ensure_namespace()
        for kind, kind_files in plan.items():
            url = c.upload_dataset(names[kind], kind_files, description=f"flywheel {kind} set for {dag_id}/{run_id}")
            records = counts["eval" if kind == "icl" else kind]
            out[kind] = UploadedDataset(name=names[kind], files_url=url, records=records)
            log.info("uploaded %s dataset %s (%s records) -> %s", kind, names[kind], records, url)
    out["train"].val_records = counts.get("val", 0)
    return {kind: d.to_json() for kind, d in out.items()}


# -------------------------------------------------------------------------------------------------- select
def select_nims(config_path: str | None, extracted: JsonObject, built: JsonObject) -> list[JsonObject]:
    cfg, settings = _config(config_path), Extracted.model_validate(extracted).settings
    plans = settings.plans(cfg, Built.model_validate(built).workload_type)
    if len(plans) > MAX_MAPPED_NIMS:
        _fail(f"{len(plans)} NIMs selected; at most {MAX_MAPPED_NIMS} can be mapped in one run")
    log.info(
        "experiments: %s",
        "; ".join(
            f"{p.model_name}: base{', icl' if p.icl else ''}{', customized' if p.customize else ''}" for p in plans
        ),
    )
    return [p.model_dump() for p in plans]


# -------------------------------------------------------------------------------------------------- report
def collect_entries(ti: TaskInstance, count: int) -> tuple[dict[tuple[str, str], ResultEntry], dict[str, str]]:
    """Per mapped index: the entry each experiment task left (its return value, else XCom ``entry``) and the
    deployment's failure."""
    found: dict[tuple[str, str], ResultEntry] = {}
    deploy_errors: dict[str, str] = {}
    for i in range(count):
        d = ti.xcom_pull(task_ids=spec.in_group(spec.DEPLOY), key=spec.ENTRY_KEY, map_indexes=i)
        if isinstance(d, dict) and d.get("nim"):
            deploy_errors[str(d["nim"])] = str(d.get("error") or "deployment failed")
        for task in spec.ENTRY_TASKS:
            for key in (spec.RETURN, spec.ENTRY_KEY):
                e = read_entry(ti.xcom_pull(task_ids=spec.in_group(task), key=key, map_indexes=i))
                if e is not None:
                    found.setdefault(e.key, e)
    return found, deploy_errors


def _pull(ti: TaskInstance, what: str, map_index: int | None = None) -> Any:
    """The return value of one of the report's inputs (``spec.REPORT_INPUTS``)."""
    if map_index is None:
        return ti.xcom_pull(task_ids=spec.REPORT_INPUTS[what], key=spec.RETURN)
    return ti.xcom_pull(task_ids=spec.REPORT_INPUTS[what], key=spec.RETURN, map_indexes=map_index)


def _read(model: type[Doc], value: object) -> Doc | None:
    """An upstream task's output as its model; None when the task left none (failed, skipped)."""
    return model.model_validate(value) if isinstance(value, dict) else None


def report(
    config_path: str | None,
    ti: TaskInstance,
    dag_id: str,
    run_id: str,
    trigger_reason: Mapping[str, object] | None = None,
) -> JsonObject:
    """The run's report (docs/contracts.md#results) from the outputs ``spec.REPORT_INPUTS`` names;
    ``trigger_reason`` (``log_watch.trigger_reason``) says why the run started, left out when None."""
    cfg = _config(config_path)
    extracted = _read(Extracted, _pull(ti, "extracted"))
    built = _read(Built, _pull(ti, "built"))
    raw_uploaded = _pull(ti, "uploaded")
    uploaded = {k: UploadedDataset.model_validate(v) for k, v in (raw_uploaded or {}).items()}
    plans = [NimPlan.model_validate(p) for p in _pull(ti, "plans") or []]
    settings = extracted.settings if extracted else None
    found, deploy_errors = collect_entries(ti, len(plans))
    states = (ti.get_task_states(dag_id=dag_id, run_ids=[run_id]) or {}).get(run_id) or {}
    results = normalise(plans, found, deploy_errors, stopped_experiments(spec.GROUP, plans, states))
    wtype = built.workload_type if built else None
    rows = trust_report.load_rows(results)
    results = trust_report.with_row_scores(results, rows, wtype)
    results, decision = _decision(cfg, ti, settings, plans, results, wtype, uploaded, extracted, built)
    production = read_entry(_pull(ti, "production"), (spec.REFERENCE_EXPERIMENT,))
    trust = _trust(cfg, settings, results, decision, rows, wtype, _pull(ti, "judge_check"), production)
    decision = trust.decision
    if decision.production is not None and trust.production_rows_url:
        decision.production.rows_url = trust.production_rows_url
    summary = Report(
        workload_id=settings.workload_id if settings else None,
        client_id=settings.client_id if settings else None,
        workload_type=wtype,
        datasets={k: DatasetRef(name=v.name, records=v.records) for k, v in uploaded.items()},
        results=results,
        best=best_candidates(results, PRIMARY_METRIC.get(wtype or "", "")) if wtype else None,
        **dict(decision),
        pii=_pii_summary(built),
    )
    if trust.judge is not None:
        summary.judge = trust.judge
    if trust.paired is not None:
        summary.paired, summary.slices = trust.paired, trust.slices
    if trigger_reason is not None:
        summary.trigger_reason = dict(trigger_reason)  # type: ignore[arg-type]  # JSON from the event payload
    for r in results:
        shown = ", ".join(f"{k}={v:.3f}" for k, v in r.scores.items()) or r.error or ""
        log.info("%-40s %-10s %-9s %s", r.nim, r.experiment, r.status, shown)
    rec, note = summary.recommendation, summary.recommendation_note
    log.info("RECOMMENDATION %s", f"{rec.nim} {rec.experiment}: {rec.reason}" if rec else note and note.reason)
    if optional_connection(MONGO_CONN) is not None:
        n = store_in_mongo(
            MONGO_CONN, cfg.results.mongo_database, cfg.results.mongo_collection, dag_id, run_id, summary
        )
        log.info(
            "stored %d result document(s) in MongoDB %s.%s", n, cfg.results.mongo_database, cfg.results.mongo_collection
        )
    publish_run_report(cfg, ti, dag_id, run_id, summary)
    return summary.to_json()


def _decision(
    cfg: FlywheelConfig,
    ti: TaskInstance,
    settings: RunSettings | None,
    plans: list[NimPlan],
    results: list[ResultEntry],
    wtype: str | None,
    uploaded: Mapping[str, UploadedDataset],
    extracted: Extracted | None,
    built: Built | None = None,
) -> tuple[list[ResultEntry], DecisionFields]:
    """Latency and cost per entry, production's cost and the recommendation (``flywheel.decision``)."""
    measured: dict[str, LatencyRun] = {}
    customize_s: dict[str, float | None] = {}
    for i, plan in enumerate(plans):
        m = _pull(ti, "latency", i)
        if isinstance(m, dict):
            measured[plan.model_name] = LatencyRun.model_validate(m)
        customized = _read(CustomizeResult, _pull(ti, "customize", i))
        customize_s[plan.model_name] = customized.duration_s if customized else None
    workload = cfg.workload(settings.workload_id) if settings else None
    selection = settings.selection if settings else cfg.defaults.selection
    production = cfg.production_for(workload) if workload else cfg.defaults.production
    eval_set = uploaded.get("eval")
    return decide(
        results,
        wtype,
        eval_set.records if eval_set else None,
        measured,
        customize_s,
        {n.model_name: n for n in cfg.nims},
        dict(cfg.pricing.gpu_hour_usd),
        selection,
        production,
        _volume(extracted, built),
    )


def _trust(
    cfg: FlywheelConfig,
    settings: RunSettings | None,
    results: list[ResultEntry],
    decision: DecisionFields,
    found: trust_report.RunRows,
    wtype: str | None,
    probes: object,
    production: ResultEntry | None,
) -> trust_report.Trust:
    """Paired comparisons, slices and the judge's check for the recommended candidate (``decision.trust``)."""

    selection = settings.selection if settings else cfg.defaults.selection
    judged = judge_endpoint(cfg).model_name if wtype and judge_needed(wtype, cfg) else None
    probe_run = probes if isinstance(probes, dict) else None
    prod_rows = trust_report.production_rows(production)
    trust = trust_report.assess_run(results, decision, found, wtype, selection, probe_run, judged, prod_rows)
    if prod_rows and production is not None:
        trust = dataclasses.replace(trust, production_rows_url=production.rows_url)
    return trust


def _volume(extracted: Extracted | None, built: Built | None = None) -> TokenVolume | None:
    """The workload's token volume: measured by the build (the raw snapshot may be deleted since), else from
    the run's log snapshot (None without either)."""
    if built and built.volume is not None:
        return built.volume
    if not extracted or not extracted.snapshot:
        return None
    return _snapshot_volume(artifacts.fetch(extracted.snapshot) / "records.jsonl")


def _snapshot_volume(path: Path) -> TokenVolume | None:
    """Token volume of a log snapshot file (streamed; None when there is no file)."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return token_volume(json.loads(line) for line in f if line.strip())


def _pii_summary(built: Built | None) -> Pii | None:
    """What the build redacted: ``{"counts": {kind: n}, "records": n}``, or None when PII handling was off."""
    stats = built.stats if built else None
    if stats is None or stats.pii is None:
        return None
    return Pii(counts=stats.pii, records=stats.pii_records or 0)


FAILED_STATES = frozenset({"failed", "upstream_failed"})


def failed_tasks(task_states: Mapping[str, str | None] | None, own_task_id: str) -> list[str]:
    """Tasks of this run that failed (or were marked failed), as ``task`` or ``task_<map index>``."""
    return sorted(k for k, v in (task_states or {}).items() if v in FAILED_STATES and k != own_task_id)


def check_results(summary: JsonObject | None, failed: list[str] | None = None) -> str:
    """Fail the run (after teardown and report) when anything failed: an experiment, or any task of the run
    (a run marked failed by a person, or one whose ``select_nims`` failed, must not end ``success``)."""
    failed = failed or []
    report = Report.model_validate(summary) if summary else None
    if report is None or not report.workload_type:
        why = f"failed tasks: {', '.join(failed)}" if failed else "see the first failed task (extract/build/upload)"
        _fail(f"the run produced no report with datasets: {why}")
    bad = [r for r in report.results if r.status == "failed"]
    if bad or failed:
        parts = [f"{r.nim}/{r.experiment}: {r.error}" for r in bad]
        if failed:
            parts.append(f"failed tasks: {', '.join(failed)}")
        _fail(f"{len(bad)} experiment(s) failed; " + "; ".join(parts))
    done = sum(1 for r in report.results if r.status == "completed")
    return f"{done} experiment(s) completed"
