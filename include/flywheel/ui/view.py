"""What the Flywheel page shows, computed from `report` XComs (docs/contracts.md#results) without Airflow or I/O.

Every number on the page comes from one report entry; each table cell carries the JSON path of the value it
shows (``results.3.latency.p95_ms``) so a test can check the page against the report it was drawn from.
Fields from the decision (latency, cost, recommendation, production) are optional: absent or null means
"not measured" / "none", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PRIMARY_METRIC = {"tool_calling": "function_name_and_args_accuracy", "classification": "f1", "generic": "similarity"}
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class RunReport:
    """One run's `report` return value with where it came from."""

    dag_id: str
    run_id: str
    report: dict[str, Any]
    start_date: str | None = None
    state: str | None = None
    decision: dict[str, Any] | None = None


@dataclass(frozen=True)
class Cell:
    column: str
    path: str | None  # JSON path in the report, None for derived cells (links)
    value: Any
    text: str
    href: str | None = None
    kind: str = "text"  # how ``value`` became ``text`` (see fmt)


@dataclass
class WorkloadView:
    workload_id: str
    dag_id: str
    run_id: str | None
    workload_type: str | None
    primary_metric: str | None
    recommendation: dict[str, Any] | None
    recommendation_text: str
    production: dict[str, Any] | None
    decision: dict[str, Any] | None
    approval_href: str | None
    points: list[dict[str, Any]] = field(default_factory=list)
    pareto: list[dict[str, Any]] = field(default_factory=list)
    bar: float | None = None
    latency: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def chart_data(self) -> dict[str, Any]:
        """What the page's script draws (JSON-able)."""
        return {
            "workload_id": self.workload_id,
            "primary_metric": self.primary_metric,
            "points": self.points,
            "pareto": self.pareto,
            "bar": self.bar,
            "production": self.production,
            "latency": self.latency,
            "history": self.history,
        }


def primary_metric(report: dict[str, Any]) -> str | None:
    rec = report.get("recommendation") or {}
    return rec.get("primary_metric") or PRIMARY_METRIC.get(report.get("workload_type") or "")


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def is_recommended(report: dict[str, Any], entry: dict[str, Any]) -> bool:
    rec = report.get("recommendation") or {}
    return bool(rec) and rec.get("nim") == entry["nim"] and rec.get("experiment") == entry["experiment"]


def chart_points(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One point per completed NIM × experiment that has the primary metric."""
    metric = primary_metric(report)
    out = []
    for i, e in enumerate(report.get("results") or []):
        score = (e.get("scores") or {}).get(metric) if metric else None
        if e.get("status") != "completed" or not isinstance(score, int | float):
            continue
        out.append(
            {
                "index": i,
                "nim": e["nim"],
                "experiment": e["experiment"],
                "score": score,
                "cost": _get(e, "cost", "per_1m_output_tokens_usd"),
                "p95_ms": _get(e, "latency", "p95_ms"),
                "recommended": is_recommended(report, e),
            }
        )
    return out


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points no other point beats on both cost (lower) and quality (higher), cheapest first.

    Points without a measured cost are not on the front: nothing is known about what they save.
    """
    priced = sorted((p for p in points if p.get("cost") is not None), key=lambda p: (p["cost"], -p["score"]))
    front: list[dict[str, Any]] = []
    for p in priced:
        if not front or p["score"] > front[-1]["score"]:
            front.append(p)
    return front


def latency_bars(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "nim": e["nim"],
            "experiment": e["experiment"],
            "p50_ms": _get(e, "latency", "p50_ms"),
            "p95_ms": _get(e, "latency", "p95_ms"),
        }
        for i, e in enumerate(report.get("results") or [])
        if e.get("status") == "completed"
    ]


def fmt(value: Any, kind: str = "text") -> str:
    """How a value is shown in the table (the browser test compares text with this of the XCom value)."""
    if value is None:
        return NOT_MEASURED if kind in ("score", "ms", "usd", "hours", "ci") else "—"
    if kind == "score":
        return f"{value:.3f}"
    if kind == "ci":
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    if kind == "ms":
        return f"{value:.0f} ms"
    if kind == "usd":
        return f"${value:,.4f}"
    if kind == "hours":
        return f"{value:.3f} h"
    if kind == "seconds":
        return f"{value:.1f} s"
    return str(value)


# column name -> (path inside a results entry, format kind); the score column's path depends on the metric
def _columns(metric: str | None) -> list[tuple[str, str, str]]:
    return [
        ("NIM", "nim", "text"),
        ("experiment", "experiment", "text"),
        ("status", "status", "text"),
        (metric or "score", f"scores.{metric}", "score"),
        ("95% interval", "ci", "ci"),
        ("p50", "latency.p50_ms", "ms"),
        ("p95", "latency.p95_ms", "ms"),
        ("$ / 1M output tokens", "cost.per_1m_output_tokens_usd", "usd"),
        ("GPU-hours", "cost.gpu_hours", "hours"),
        ("duration", "duration_s", "seconds"),
        ("error", "error", "text"),
    ]


COLUMN_NAMES = [c[0] for c in _columns("score")] + ["links"]


def airflow_links(base: str, dag_id: str, run_id: str) -> dict[str, str]:
    run = f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return {"run": run, "tasks": f"{run}/tasks"}


def table_rows(report: dict[str, Any], dag_id: str, run_id: str, base: str = "") -> list[list[Cell]]:
    metric = primary_metric(report)
    nims = list(dict.fromkeys(e["nim"] for e in report.get("results") or []))
    links = airflow_links(base, dag_id, run_id)
    rows = []
    for i, e in enumerate(report.get("results") or []):
        row = []
        for name, path, kind in _columns(metric):
            value = _get(e, *path.split("."))
            row.append(Cell(name, f"results.{i}.{path}", value, fmt(value, kind), kind=kind))
        # mapped experiment tasks are indexed by the NIM's position in the run's plan (report order)
        task = quote(f"nim_experiment.{e['experiment']}_eval", safe="")
        task_href = f"{links['tasks']}/{task}/mapped/{nims.index(e['nim'])}"
        job = e.get("job_id")
        row.append(Cell("links", None, job, f"job {job}" if job else "task", task_href))
        rows.append(row)
    return rows


def recommendation_text(report: dict[str, Any]) -> str:
    if "recommendation" not in report:
        return "none: this run has no decision (quality / latency / cost not measured)"
    rec = report["recommendation"]
    if rec is None:
        reason = _get(report, "recommendation_note", "reason") or "no reason given"
        return f"none meets the bar: {reason}"
    parts = [f"{rec.get('nim')} ({rec.get('experiment')})"]
    if rec.get("score") is not None:
        parts.append(f"{rec.get('primary_metric')} {fmt(rec['score'], 'score')}")
    if rec.get("ci"):
        parts.append(f"95% {fmt(rec['ci'], 'ci')}")
    if rec.get("per_1m_output_tokens_usd") is not None:
        parts.append(f"{fmt(rec['per_1m_output_tokens_usd'], 'usd')} / 1M output tokens")
    if rec.get("savings_per_month_usd") is not None:
        parts.append(f"saves {fmt(rec['savings_per_month_usd'], 'usd')} / month")
    text = ", ".join(parts)
    return f"{text}. {rec['reason']}" if rec.get("reason") else text


def history(runs: list[RunReport]) -> list[dict[str, Any]]:
    """Primary metric of each NIM × experiment across runs, oldest first: one point per run that scored it."""
    series: dict[str, dict[str, Any]] = {}
    for run in runs:
        metric = primary_metric(run.report)
        for e in run.report.get("results") or []:
            score = (e.get("scores") or {}).get(metric) if metric else None
            if e.get("status") != "completed" or not isinstance(score, int | float):
                continue
            name = f"{e['nim']} / {e['experiment']}"
            s = series.setdefault(name, {"name": name, "metric": metric, "points": []})
            s["points"].append({"run_id": run.run_id, "at": run.start_date, "score": score})
    return list(series.values())


def workload_view(
    workload_id: str, dag_id: str, runs: list[RunReport], run_id: str | None = None, base: str = ""
) -> WorkloadView:
    """The page section for one workload: ``runs`` oldest first; shows ``run_id`` or the newest run."""
    shown = next((r for r in runs if r.run_id == run_id), None) if run_id else (runs[-1] if runs else None)
    run_list = [{"run_id": r.run_id, "start_date": r.start_date, "state": r.state} for r in reversed(runs)]
    if shown is None:
        return WorkloadView(
            workload_id, dag_id, run_id, None, None, None, "no finished report yet", None, None, None, runs=run_list
        )
    report = shown.report
    points = chart_points(report)
    rec = report.get("recommendation")
    # the bar is drawn whether or not something meets it (reports before "bar" existed: the recommendation's)
    bar = _get(report, "bar", "min_quality")
    if bar is None:
        bar = _get(rec, "min_quality")
    approval = None
    if rec:
        approval = f"{airflow_links(base, dag_id, shown.run_id)['tasks']}/approve_promotion/required_actions"
    return WorkloadView(
        workload_id=workload_id,
        dag_id=dag_id,
        run_id=shown.run_id,
        workload_type=report.get("workload_type"),
        primary_metric=primary_metric(report),
        recommendation=rec,
        recommendation_text=recommendation_text(report),
        production=report.get("production"),
        decision=shown.decision,
        approval_href=approval,
        points=points,
        pareto=pareto_front(points),
        bar=bar,
        latency=latency_bars(report),
        rows=table_rows(report, dag_id, shown.run_id, base),
        history=history(runs),
        runs=run_list,
    )
