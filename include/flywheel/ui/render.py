"""HTML for the Flywheel page and the per-run report file, from the Jinja2 templates in ``templates/``
(autoescaped: no value reaches the HTML unescaped). Tables are rendered here; the charts are drawn by the
page's script with the vendored Chart.js from the JSON embedded in the page (nothing is fetched from the
internet).

``inline=True`` puts the script, the style sheet and Chart.js into the file itself (the per-run report is one
self-contained file, with its Content-Security-Policy as a meta tag); otherwise the page links them from
``static_prefix``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from flywheel.ui.security import report_csp
from flywheel.ui.serving import ServingState, weight_text
from flywheel.ui.view import COLUMN_NAMES, PAIRED_COLUMNS, SLICE_COLUMNS, Cell, WorkloadView, fmt

ASSETS = ("chart.umd.min.js", "flywheel.js", "select-run.js", "flywheel.css")
# what the report file carries inline (its CSP allows exactly these, by hash)
INLINE = {"css": "flywheel.css", "chart": "chart.umd.min.js", "flywheel": "flywheel.js"}


@cache
def asset(name: str) -> str:
    return resources.files("flywheel.ui").joinpath("static", name).read_text(encoding="utf-8")


def safe_url(url: str | None) -> str:
    """``url`` when it is a path or an http(s) URL, else ``#``: no ``javascript:`` (or other scheme) link."""
    if not url:
        return "#"
    scheme = urlsplit(url).scheme.lower()
    return url if scheme in ("", "http", "https") and not url.lstrip().lower().startswith("javascript") else "#"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flywheel.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["url"] = safe_url
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def json_for_script(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` as ``\\u`` escapes (the
    same string to JSON.parse), so no value can end the block or open a tag."""
    text = json.dumps(data, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _decision(v: WorkloadView) -> dict[str, str] | None:
    d = v.decision
    if d is None:
        return None
    return {
        "status": d.status,
        "nim": _text(d.nim),
        "experiment": _text(d.experiment),
        "by": _text(d.by) or "—",
        "comment": _text(d.comment),
    }


def _production_text(v: WorkloadView) -> str:
    prod = v.production
    if prod is None:
        return "production model: not in this report"
    cost = fmt(prod.per_1m_output_tokens_usd, "usd")
    return f"production: {prod.model_name}, {cost} / 1M output tokens"


def _cell(c: Cell) -> dict[str, object]:
    return {
        "column": c.column,
        "path": c.path,
        "kind": c.kind,
        "value_json": json.dumps(c.value) if c.path is not None else None,
        "text": c.text,
        "href": c.href,
    }


def _rows(v: WorkloadView) -> list[list[dict[str, object]]]:
    return [[_cell(c) for c in row] for row in v.rows]


def _section(v: WorkloadView, page_href: str | None) -> dict[str, object]:
    runs = [{"run_id": r["run_id"], "state": _text(r["state"]), "selected": r["run_id"] == v.run_id} for r in v.runs]
    return {
        "workload_id": v.workload_id,
        "dag_id": v.dag_id,
        "run_id": v.run_id,
        "workload_type": v.workload_type,
        "primary_metric": v.primary_metric,
        "page_href": page_href,
        "runs": runs if page_href else [],
        "recommended": bool(v.recommendation),
        "recommendation_text": v.recommendation_text,
        "production_text": _production_text(v),
        "decision": _decision(v),
        "approval_href": v.approval_href,
        "no_latency": all(b["p50_ms"] is None and b["p95_ms"] is None for b in v.latency),
        "columns": [c.column for c in v.rows[0]] if v.rows else COLUMN_NAMES,
        "rows": _rows(v),
        "paired": [[_cell(c) for c in row] for row in v.paired],
        "paired_columns": [c[0] for c in PAIRED_COLUMNS],
        "slices": [[_cell(c) for c in row] for row in v.slices],
        "slice_columns": [c[0] for c in SLICE_COLUMNS],
        "judge": [_cell(c) for c in v.judge],
        "judge_reason": v.judge_reason,
    }


def _serving(s: ServingState) -> dict[str, object]:
    rb = s.last_rollback
    return {
        "target": s.target,
        "incumbent": _text(s.incumbent),
        "candidate": _text(s.candidate),
        "weights": weight_text(s),
        "step": _text(s.step),
        "rollout": f"{s.rollout_id} ({s.rollout_state}, last step {s.rollout_step})" if s.rollout_id else "—",
        "rollback": f"{rb.at or ''} at {rb.after}: {rb.reason} ({rb.candidate} → {rb.incumbent})" if rb else None,
        "error": s.error,
    }


def render_page(
    views: list[WorkloadView],
    *,
    title: str = "Flywheel",
    inline: bool = False,
    static_prefix: str = "static",
    page_href: str | None = None,
    serving: list[ServingState] | None = None,
) -> str:
    # the vendored assets are this package's own files, inlined verbatim (their hashes are in the report's CSP)
    assets = {key: Markup(asset(name)) for key, name in INLINE.items()} if inline else {}
    return render(
        "page.html",
        title=title,
        inline=inline,
        csp=report_csp(meta=True),
        assets=assets,
        static_prefix=static_prefix,
        sections=[_section(v, page_href) for v in views],
        serving={s.workload_id: _serving(s) for s in serving or []},
        data=json_for_script([v.chart_data() for v in views]),
    )
