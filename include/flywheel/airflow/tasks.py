"""Task callables for the data side and the report (the DAG factory wraps them in ``@task``).

Each returns a small JSON-able summary (XCom carries names, counts and URIs, never records).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from flywheel.airflow import artifacts
from flywheel.airflow.connections import (
    ES_CONN,
    MONGO_CONN,
    connection_secrets,
    embedding_endpoint,
    es_client_from_connection,
    optional_connection,
)
from flywheel.airflow.hooks import NemoHook
from flywheel.airflow.results import (
    EXPERIMENTS,
    PRIMARY_METRIC,
    best_candidates,
    normalise,
    stopped_experiments,
    store_in_mongo,
)
from flywheel.airflow.run_report import publish_run_report
from flywheel.airflow.run_settings import RunSettings
from flywheel.config import FlywheelConfig, load_config
from flywheel.decision.report import decide
from flywheel.decision.volume import token_volume

log = logging.getLogger(__name__)
MAX_MAPPED_NIMS = 1024  # [core] max_map_length default


def _fail(message: str) -> None:
    raise AirflowFailException(message)


def _config(config_path: str | None) -> FlywheelConfig:
    return load_config(config_path)


def _settings(extracted: dict[str, Any]) -> RunSettings:
    return RunSettings.model_validate(extracted["settings"])


# ------------------------------------------------------------------------------------------------- extract
def extract_records(
    config_path: str | None, workload_id: str, params: dict[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    from flywheel.records.sources import export_snapshot, open_log_source
    from flywheel.scrub import scrub

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
    return {"settings": settings.model_dump(mode="json"), "snapshot": target, "extract": summary}


# --------------------------------------------------------------------------------------------------- build
def build_datasets(config_path: str | None, extracted: dict[str, Any], dag_id: str, run_id: str) -> dict[str, Any]:
    from flywheel.datasets import BuildOptions, DatasetError
    from flywheel.datasets import build_datasets as build

    cfg, settings = _config(config_path), _settings(extracted)
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
    snapshot = artifacts.fetch(extracted["snapshot"]) / "records.jsonl"
    target = artifacts.run_uri(cfg, dag_id, run_id, "datasets")
    local = artifacts.local_dir_for(target)
    try:
        result = build(snapshot, options, local, embedder=embedder)
    except DatasetError as exc:
        _fail(f"cannot build datasets for {settings.workload_id}: {exc}")
    artifacts.publish(local, target)
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
    return {
        "workload_type": result.workload_type,
        "uri": target,
        "files": {k: Path(p).name for k, p in result.files.items()},
        "counts": counts,
        "stats": {k: stats.get(k) for k in ("read", "used", "invalid", "duplicates", "filtered", "pii", "pii_records")},
    }


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _embedder(cfg: FlywheelConfig) -> Any:
    """Local mode: the embedding NIM ``prepare_embedder`` deployed, through the NIM proxy. Remote mode: the
    hosted URL from connection ``flywheel_embedding`` (or ``embedding.url``)."""
    from flywheel.nemo.embeddings import RemoteEmbedder

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
    config_path: str | None, extracted: dict[str, Any], built: dict[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    cfg, settings = _config(config_path), _settings(extracted)
    names = dataset_names(settings.workload_id, dag_id, run_id)
    local = artifacts.fetch(built["uri"])
    files, counts = built["files"], built["counts"]
    plan: dict[str, dict[str, Path]] = {"eval": {"eval_data.jsonl": local / files["eval"]}}
    if "icl" in files:
        plan["icl"] = {"eval_data.jsonl": local / files["icl"]}
    plan["train"] = {
        "training/train_data.jsonl": local / files["train"],
        "validation/val_data.jsonl": local / files["val"],
    }
    out: dict[str, Any] = {}
    with NemoHook.from_config(cfg).get_conn() as c:
        c.ensure_namespace()
        for kind, kind_files in plan.items():
            url = c.upload_dataset(names[kind], kind_files, description=f"flywheel {kind} set for {dag_id}/{run_id}")
            out[kind] = {"name": names[kind], "files_url": url, "records": counts["eval" if kind == "icl" else kind]}
            log.info("uploaded %s dataset %s (%s records) -> %s", kind, names[kind], out[kind]["records"], url)
    out["train"]["val_records"] = counts.get("val", 0)
    return out


# -------------------------------------------------------------------------------------------------- select
def select_nims(config_path: str | None, extracted: dict[str, Any], built: dict[str, Any]) -> list[dict[str, Any]]:
    cfg, settings = _config(config_path), _settings(extracted)
    plans = [p.model_dump() for p in settings.plans(cfg, built["workload_type"])]
    if len(plans) > MAX_MAPPED_NIMS:
        _fail(f"{len(plans)} NIMs selected; at most {MAX_MAPPED_NIMS} can be mapped in one run")
    log.info(
        "experiments: %s",
        "; ".join(
            f"{p['model_name']}: base{', icl' if p['icl'] else ''}{', customized' if p['customize'] else ''}"
            for p in plans
        ),
    )
    return plans


# -------------------------------------------------------------------------------------------------- report
TASK_EXPERIMENT = {"base_eval": "base", "icl_eval": "icl", "customized_eval": "customized", "customize": "customized"}


def collect_entries(ti: Any, group: str, count: int) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, str]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    deploy_errors: dict[str, str] = {}
    for i in range(count):
        d = ti.xcom_pull(task_ids=f"{group}.deploy_nim", key="entry", map_indexes=i)
        if d:
            deploy_errors[d["nim"]] = d.get("error") or "deployment failed"
        for task in ("base_eval", "icl_eval", "customized_eval", "customize"):
            for key in ("return_value", "entry"):
                e = ti.xcom_pull(task_ids=f"{group}.{task}", key=key, map_indexes=i)
                if isinstance(e, dict) and e.get("experiment") in EXPERIMENTS:
                    found.setdefault((e["nim"], e["experiment"]), e)
    return found, deploy_errors


def report(
    config_path: str | None,
    ti: Any,
    dag_id: str,
    run_id: str,
    extracted: dict[str, Any] | None,
    built: dict[str, Any] | None,
    uploaded: dict[str, Any] | None,
    plans: list[dict[str, Any]] | None,
    sources: dict[str, str],
) -> dict[str, Any]:
    """``sources``: the task ids of the experiment group's ``latency`` and ``customize`` tasks."""
    cfg = _config(config_path)
    settings = _settings(extracted) if extracted else None
    plans = list(plans or [])
    found, deploy_errors = collect_entries(ti, "nim_experiment", len(plans))
    states = (ti.get_task_states(dag_id=dag_id, run_ids=[run_id]) or {}).get(run_id) or {}
    results = normalise(plans, found, deploy_errors, stopped_experiments("nim_experiment", plans, states))
    wtype = (built or {}).get("workload_type")
    decision = _decision(cfg, ti, sources, settings, plans, results, wtype, uploaded, extracted)
    summary = {
        "workload_id": settings.workload_id if settings else None,
        "client_id": settings.client_id if settings else None,
        "workload_type": wtype,
        "datasets": {k: {"name": v["name"], "records": v["records"]} for k, v in (uploaded or {}).items()},
        "results": results,
        "best": best_candidates(results, PRIMARY_METRIC.get(wtype or "", "")) if wtype else None,
        **decision,
        "pii": _pii_summary(built),
    }
    for r in results:
        shown = ", ".join(f"{k}={v:.3f}" for k, v in r["scores"].items()) or r["error"] or ""
        log.info("%-40s %-10s %-9s %s", r["nim"], r["experiment"], r["status"], shown)
    rec = summary["recommendation"]
    log.info(
        "RECOMMENDATION %s",
        f"{rec['nim']} {rec['experiment']}: {rec['reason']}"
        if rec
        else (summary["recommendation_note"] or {}).get("reason"),
    )
    if optional_connection(MONGO_CONN) is not None:
        n = store_in_mongo(
            MONGO_CONN, cfg.results.mongo_database, cfg.results.mongo_collection, dag_id, run_id, summary
        )
        log.info(
            "stored %d result document(s) in MongoDB %s.%s", n, cfg.results.mongo_database, cfg.results.mongo_collection
        )
    publish_run_report(cfg, ti, dag_id, run_id, summary)
    return summary


def _decision(
    cfg: FlywheelConfig,
    ti: Any,
    sources: dict[str, str],
    settings: RunSettings | None,
    plans: list[dict[str, Any]],
    results: list[dict[str, Any]],
    wtype: str | None,
    uploaded: dict[str, Any] | None,
    extracted: dict[str, Any] | None,
) -> dict[str, Any]:
    """Latency and cost per entry, production's cost and the recommendation (``flywheel.decision``)."""
    measured: dict[str, Any] = {}
    customize_s: dict[str, float | None] = {}
    for i, plan in enumerate(plans):
        m = ti.xcom_pull(task_ids=sources["latency"], key="return_value", map_indexes=i)
        if isinstance(m, dict):
            measured[plan["model_name"]] = m
        c = ti.xcom_pull(task_ids=sources["customize"], key="return_value", map_indexes=i)
        customize_s[plan["model_name"]] = (c or {}).get("duration_s") if isinstance(c, dict) else None
    workload = cfg.workload(settings.workload_id) if settings else None
    selection = settings.selection if settings else cfg.defaults.selection
    production = cfg.production_for(workload) if workload else cfg.defaults.production
    eval_records = ((uploaded or {}).get("eval") or {}).get("records")
    return decide(
        results,
        wtype,
        eval_records,
        measured,
        customize_s,
        {n.model_name: n for n in cfg.nims},
        dict(cfg.pricing.gpu_hour_usd),
        selection,
        production,
        _volume(extracted),
    )


def _volume(extracted: dict[str, Any] | None) -> Any:
    """The workload's token volume from the run's log snapshot (streamed; None without a snapshot)."""
    if not extracted or not extracted.get("snapshot"):
        return None
    path = artifacts.fetch(extracted["snapshot"]) / "records.jsonl"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return token_volume(json.loads(line) for line in f if line.strip())


def _pii_summary(built: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the build redacted: ``{"counts": {kind: n}, "records": n}``, or None when PII handling was off."""
    stats = (built or {}).get("stats") or {}
    return {"counts": stats["pii"], "records": stats.get("pii_records", 0)} if "pii" in stats else None


FAILED_STATES = frozenset({"failed", "upstream_failed"})


def failed_tasks(task_states: dict[str, str | None] | None, own_task_id: str) -> list[str]:
    """Tasks of this run that failed (or were marked failed), as ``task`` or ``task_<map index>``."""
    return sorted(k for k, v in (task_states or {}).items() if v in FAILED_STATES and k != own_task_id)


def check_results(summary: dict[str, Any] | None, failed: list[str] | None = None) -> str:
    """Fail the run (after teardown and report) when anything failed: an experiment, or any task of the run
    (a run marked failed by a person, or one whose ``select_nims`` failed, must not end ``success``)."""
    failed = failed or []
    if not summary or not summary.get("workload_type"):
        why = f"failed tasks: {', '.join(failed)}" if failed else "see the first failed task (extract/build/upload)"
        _fail(f"the run produced no report with datasets: {why}")
    assert summary is not None
    bad = [r for r in summary["results"] if r["status"] == "failed"]
    if bad or failed:
        parts = [f"{r['nim']}/{r['experiment']}: {r['error']}" for r in bad]
        if failed:
            parts.append(f"failed tasks: {', '.join(failed)}")
        _fail(f"{len(bad)} experiment(s) failed; " + "; ".join(parts))
    done = sum(1 for r in summary["results"] if r["status"] == "completed")
    return f"{done} experiment(s) completed"
