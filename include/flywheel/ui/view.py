"""What the Flywheel page shows, computed from `report` XComs (docs/contracts.md#results) without Airflow or I/O.

Every number on the page comes from one report entry; each table cell carries the JSON path of the value it
shows (``results.3.latency.p95_ms``) so a test can check the page against the report it was drawn from.
Fields from the decision (latency, cost, recommendation, production) are optional: absent or null means
"not measured" / "none", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import quote

from pydantic import dataclasses

from flywheel.decision.recommend import PRIMARY_METRIC
from flywheel.jsontypes import JsonObject, JsonValue
from flywheel.run import spec
from flywheel.run.models import Decision, Production, Recommendation, Report, ResultEntry

NOT_MEASURED = "not measured"


@dataclasses.dataclass(frozen=True)
class RunReport:
    """One run's `report` return value with where it came from (a stored report's JSON is read into a
    :class:`Report` here, so a malformed one fails where it is read, naming the field)."""

    dag_id: str
    run_id: str
    report: Report
    start_date: str | None = None
    state: str | None = None
    decision: Decision | None = None

    def to_json(self) -> JsonObject:
        """As the REST answer gives it: the report and decision with the keys they were stored with."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "report": self.report.stored_json(),
            "start_date": self.start_date,
            "state": self.state,
            "decision": self.decision.stored_json() if self.decision else None,
        }


@dataclass(frozen=True)
class Cell:
    column: str
    path: str | None  # JSON path in the report, None for derived cells (links)
    value: JsonValue
    text: str
    href: str | None = None
    kind: str = "text"  # how ``value`` became ``text`` (see fmt)


class Point(TypedDict):
    index: int
    nim: str
    experiment: str
    score: float
    cost: float | None
    p95_ms: float | None
    recommended: bool


class LatencyBar(TypedDict):
    index: int
    nim: str
    experiment: str
    p50_ms: float | None
    p95_ms: float | None


class HistoryPoint(TypedDict):
    run_id: str
    at: str | None
    score: float


class Series(TypedDict):
    name: str
    metric: str
    points: list[HistoryPoint]


class RunItem(TypedDict):
    run_id: str
    start_date: str | None
    state: str | None


@dataclass
class WorkloadView:
    workload_id: str
    dag_id: str
    run_id: str | None
    workload_type: str | None
    primary_metric: str | None
    recommendation: Recommendation | None
    recommendation_text: str
    production: Production | None
    decision: Decision | None
    approval_href: str | None
    points: list[Point] = field(default_factory=list)
    pareto: list[Point] = field(default_factory=list)
    bar: float | None = None
    latency: list[LatencyBar] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    history: list[Series] = field(default_factory=list)
    runs: list[RunItem] = field(default_factory=list)
    paired: list[list[Cell]] = field(default_factory=list)  # the recommended candidate against its references
    slices: list[list[Cell]] = field(default_factory=list)
    judge: list[Cell] = field(default_factory=list)  # the judge's check, one cell per figure
    judge_reason: str | None = None

    def chart_data(self) -> dict[str, object]:
        """What the page's script draws (JSON-able)."""
        return {
            "workload_id": self.workload_id,
            "primary_metric": self.primary_metric,
            "points": self.points,
            "pareto": self.pareto,
            "bar": self.bar,
            "production": self.production.stored_json() if self.production else None,
            "latency": self.latency,
            "history": self.history,
        }


def primary_metric(report: Report) -> str | None:
    rec = report.recommendation
    return (rec.primary_metric if rec else None) or PRIMARY_METRIC.get(report.workload_type or "")


def is_recommended(report: Report, entry: ResultEntry) -> bool:
    rec = report.recommendation
    return rec is not None and (rec.nim, rec.experiment) == entry.key


def _score(entry: ResultEntry, metric: str | None) -> float | None:
    return entry.scores.get(metric) if metric and entry.status == "completed" else None


def chart_points(report: Report) -> list[Point]:
    """One point per completed NIM × experiment that has the primary metric."""
    metric = primary_metric(report)
    out: list[Point] = []
    for i, e in enumerate(report.results):
        score = _score(e, metric)
        if score is None:
            continue
        out.append(
            Point(
                index=i,
                nim=e.nim,
                experiment=e.experiment,
                score=score,
                cost=e.per_1m_output_tokens_usd,
                p95_ms=e.p95_ms,
                recommended=is_recommended(report, e),
            )
        )
    return out


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both cost (lower) and quality (higher), cheapest first.

    Points without a measured cost are not on the front: nothing is known about what they save.
    """
    priced = sorted((p for p in points if p["cost"] is not None), key=lambda p: (p["cost"] or 0.0, -p["score"]))
    front: list[Point] = []
    for p in priced:
        if not front or p["score"] > front[-1]["score"]:
            front.append(p)
    return front


def latency_bars(report: Report) -> list[LatencyBar]:
    return [
        LatencyBar(
            index=i,
            nim=e.nim,
            experiment=e.experiment,
            p50_ms=e.latency.p50_ms if e.latency else None,
            p95_ms=e.p95_ms,
        )
        for i, e in enumerate(report.results)
        if e.status == "completed"
    ]


def fmt(value: object, kind: str = "text") -> str:
    """How a value is shown in the table (the browser test compares text with this of the XCom value)."""
    if value is None:
        return NOT_MEASURED if kind in ("score", "ms", "usd", "hours", "ci") else "—"
    if kind == "flag":
        return "yes" if value else "no"
    if kind == "diff" and isinstance(value, int | float):
        return f"{value:+.3f}"
    if kind == "ci" and isinstance(value, list | tuple):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    if isinstance(value, int | float) and not isinstance(value, bool):
        formats = {"score": "{:.3f}", "ms": "{:.0f} ms", "usd": "${:,.4f}", "hours": "{:.3f} h", "seconds": "{:.1f} s"}
        if kind in formats:
            return formats[kind].format(value)
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


def _at(node: JsonValue, path: str) -> JsonValue:
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def airflow_links(base: str, dag_id: str, run_id: str) -> dict[str, str]:
    run = f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return {"run": run, "tasks": f"{run}/tasks"}


def table_rows(report: Report, dag_id: str, run_id: str, base: str = "") -> list[list[Cell]]:
    """One row per entry; each cell's value is the entry's JSON value at the cell's path (as stored)."""
    metric = primary_metric(report)
    nims = list(dict.fromkeys(e.nim for e in report.results))
    links = airflow_links(base, dag_id, run_id)
    rows = []
    for i, e in enumerate(report.results):
        stored = e.stored_json()
        row = []
        for name, path, kind in _columns(metric):
            value = _at(stored, path)
            row.append(Cell(name, f"results.{i}.{path}", value, fmt(value, kind), kind=kind))
        # mapped experiment tasks are indexed by the NIM's position in the run's plan (report order)
        task = quote(spec.in_group(f"{e.experiment}_eval"), safe="")
        task_href = f"{links['tasks']}/{task}/mapped/{nims.index(e.nim)}"
        row.append(Cell("links", None, e.job_id, f"job {e.job_id}" if e.job_id else "task", task_href))
        rows.append(row)
    return rows


# the trust tables (docs/results.md#paired-comparisons-slices-and-judge-checks): column -> (key, format kind)
PAIRED_COLUMNS = [
    ("candidate", "candidate", "text"),
    ("reference", "reference", "text"),
    ("metric", "metric", "text"),
    ("paired rows", "rows", "text"),
    ("candidate mean", "candidate_mean", "score"),
    ("reference mean", "reference_mean", "score"),
    ("difference", "difference", "diff"),
    ("95% interval", "ci", "ci"),
    ("margin", "margin", "text"),
    ("verdict", "verdict", "text"),
    ("more rows to settle", "more_rows", "text"),
]
SLICE_COLUMNS = [
    ("slice", "slice", "text"),
    ("rows", "rows", "text"),
    ("candidate", "candidate", "score"),
    ("best candidate", "best", "score"),
    ("production", "production", "score"),
    ("below the bar", "below_bar", "flag"),
    ("worse than best", "worse_than_best", "flag"),
    ("worse than production", "worse_than_production", "flag"),
]
JUDGE_COLUMNS = [
    ("judge", "judge", "text"),
    ("probes passed", "passed", "text"),
    ("probes", "probes", "text"),
    ("probe accuracy", "probe_accuracy", "score"),
    ("agreement with exact metric", "agreement", "score"),
    ("rows compared", "agreement_rows", "text"),
    ("unparsed rows", "unparsed_rows", "text"),
    ("Cohen's κ", "human_kappa", "score"),
    ("needed", "min_agreement", "text"),
    ("trusted", "trusted", "flag"),
]


def _cells(item: JsonValue, prefix: str, columns: list[tuple[str, str, str]]) -> list[Cell]:
    return [
        Cell(name, f"{prefix}.{key}", _at(item, key), fmt(_at(item, key), kind), kind=kind)
        for name, key, kind in columns
    ]


def trust_tables(report: Report) -> tuple[list[list[Cell]], list[list[Cell]], list[Cell]]:
    """The paired comparisons, the slice table and the judge's check (empty when the report has none)."""
    paired = [_cells(p, f"paired.{i}", PAIRED_COLUMNS) for i, p in enumerate(report.paired or [])]
    slices = [_cells(s, f"slices.{i}", SLICE_COLUMNS) for i, s in enumerate(report.slices or [])]
    judge = _cells(report.judge, "judge", JUDGE_COLUMNS) if report.judge else []
    return paired, slices, judge


def recommendation_text(report: Report) -> str:
    if "recommendation" not in report.model_fields_set:
        return "none: this run has no decision (quality / latency / cost not measured)"
    rec = report.recommendation
    if rec is None:
        note = report.recommendation_note
        reason = (note.reason if note else None) or "no reason given"
        if reason.startswith("withhold: "):  # a candidate met the bar, but the figures do not support it
            return f"withheld: {reason.removeprefix('withhold: ')}"
        return f"none meets the bar: {reason}"
    parts = [f"{rec.nim} ({rec.experiment})", f"{rec.primary_metric} {fmt(rec.score, 'score')}"]
    if rec.ci:
        parts.append(f"95% {fmt(rec.ci, 'ci')}")
    if rec.per_1m_output_tokens_usd is not None:
        parts.append(f"{fmt(rec.per_1m_output_tokens_usd, 'usd')} / 1M output tokens")
    if rec.savings_per_month_usd is not None:
        parts.append(f"saves {fmt(rec.savings_per_month_usd, 'usd')} / month")
    text = ", ".join(parts)
    return f"{text}. {rec.reason}" if rec.reason else text


def history(runs: list[RunReport]) -> list[Series]:
    """Primary metric of each NIM × experiment across runs, oldest first: one point per run that scored it."""
    series: dict[str, Series] = {}
    for run in runs:
        metric = primary_metric(run.report)
        for e in run.report.results:
            score = _score(e, metric)
            if score is None or metric is None:
                continue
            name = f"{e.nim} / {e.experiment}"
            s = series.setdefault(name, Series(name=name, metric=metric, points=[]))
            s["points"].append(HistoryPoint(run_id=run.run_id, at=run.start_date, score=score))
    return list(series.values())


def workload_view(
    workload_id: str, dag_id: str, runs: list[RunReport], run_id: str | None = None, base: str = ""
) -> WorkloadView:
    """The page section for one workload: ``runs`` oldest first; shows ``run_id`` or the newest run."""
    shown = next((r for r in runs if r.run_id == run_id), None) if run_id else (runs[-1] if runs else None)
    run_list = [RunItem(run_id=r.run_id, start_date=r.start_date, state=r.state) for r in reversed(runs)]
    if shown is None:
        return WorkloadView(
            workload_id, dag_id, run_id, None, None, None, "no finished report yet", None, None, None, runs=run_list
        )
    report = shown.report
    points = chart_points(report)
    paired, slices, judge = trust_tables(report)
    rec = report.recommendation
    # the bar is drawn whether or not something meets it (reports before "bar" existed: the recommendation's)
    bar = report.bar.min_quality if report.bar else (rec.min_quality if rec else None)
    approval = None
    if rec:
        approval = f"{airflow_links(base, dag_id, shown.run_id)['tasks']}/{spec.APPROVE}/required_actions"
    return WorkloadView(
        workload_id=workload_id,
        dag_id=dag_id,
        run_id=shown.run_id,
        workload_type=report.workload_type,
        primary_metric=primary_metric(report),
        recommendation=rec,
        recommendation_text=recommendation_text(report),
        production=report.production,
        decision=shown.decision,
        approval_href=approval,
        points=points,
        pareto=pareto_front(points),
        bar=bar,
        latency=latency_bars(report),
        rows=table_rows(report, dag_id, shown.run_id, base),
        history=history(runs),
        runs=run_list,
        paired=paired,
        slices=slices,
        judge=judge,
        judge_reason=str(report.judge.get("reason")) if report.judge and report.judge.get("reason") else None,
    )
