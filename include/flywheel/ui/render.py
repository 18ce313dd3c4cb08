"""HTML for the Flywheel page and the per-run report file: tables rendered here, charts drawn by the page's
script with the vendored Chart.js from the JSON embedded in the page (nothing is fetched from the internet).

``inline=True`` puts the script, the style sheet and Chart.js into the file itself (the per-run report is one
self-contained file); otherwise the page links them from ``static_prefix``.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from flywheel.ui.view import COLUMN_NAMES, WorkloadView, fmt

ASSETS = ("chart.umd.min.js", "flywheel.js", "flywheel.css")


@cache
def asset(name: str) -> str:
    return resources.files("flywheel.ui").joinpath("static", name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    # "</" would end the <script> element early; "\u003c" is the same string to JSON.parse
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def _recommendation(v: WorkloadView) -> str:
    decision = ""
    if v.decision:
        d = v.decision
        decision = (
            f'<p class="decision" data-testid="decision">decision: <b>{escape(str(d.get("status")))}</b>'
            f" {escape(str(d.get('nim') or ''))} {escape(str(d.get('experiment') or ''))}"
            f" by {escape(str(d.get('by') or '—'))} {escape(str(d.get('comment') or ''))}</p>"
        )
    elif v.approval_href:
        decision = (
            f'<p class="decision" data-testid="decision">approval pending or not recorded: '
            f'<a href="{escape(v.approval_href)}" target="_top">open the approval form</a></p>'
        )
    prod = v.production or {}
    prod_text = "production model: not in this report"
    if prod:
        cost = prod.get("per_1m_output_tokens_usd")
        prod_text = f"production: {escape(str(prod.get('model_name')))}, {fmt(cost, 'usd')} / 1M output tokens"
    css = "rec ok" if v.recommendation else "rec none"
    return (
        f'<div class="{css}"><p data-testid="recommendation"><b>Recommendation:</b> '
        f"{escape(v.recommendation_text)}</p><p>{prod_text}</p>{decision}</div>"
    )


def _table(v: WorkloadView) -> str:
    names = [c.column for c in v.rows[0]] if v.rows else COLUMN_NAMES
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    body = []
    for row in v.rows:
        cells = []
        for c in row:
            attrs = f' data-column="{escape(c.column)}"'
            if c.path is not None:
                value = escape(json.dumps(c.value))
                attrs += f' data-path="{escape(c.path)}" data-format="{c.kind}" data-value="{value}"'
            text = escape(c.text)
            if c.href:
                text = f'<a href="{escape(c.href)}" target="_top">{text}</a>'
            cells.append(f"<td{attrs}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="results" data-testid="results-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _runs(v: WorkloadView, page_href: str | None) -> str:
    if not page_href or not v.runs:
        return ""
    options = "".join(
        f'<option value="{escape(r["run_id"])}"{" selected" if r["run_id"] == v.run_id else ""}>'
        f"{escape(r['run_id'])} ({escape(str(r.get('state') or ''))})</option>"
        for r in v.runs
    )
    return (
        f'<form class="runs" method="get" action="{escape(page_href)}">'
        f'<input type="hidden" name="workload_id" value="{escape(v.workload_id)}">'
        f'<label>run <select name="run_id" onchange="this.form.submit()">{options}</select></label></form>'
    )


def _section(v: WorkloadView, page_href: str | None) -> str:
    wid = escape(v.workload_id)
    head = (
        f"<h2>{wid} <small>{escape(v.workload_type or '')} · {escape(v.dag_id)} · run "
        f"{escape(v.run_id or '—')}</small></h2>{_runs(v, page_href)}"
    )
    if v.run_id is None:
        return f'<section class="workload" data-workload="{wid}">{head}<p>no finished report yet</p></section>'
    no_latency = all(b["p50_ms"] is None and b["p95_ms"] is None for b in v.latency)
    return (
        f'<section class="workload" data-workload="{wid}" data-run="{escape(v.run_id)}">{head}{_recommendation(v)}'
        '<div class="charts">'
        f"<figure><figcaption>{escape(v.primary_metric or 'quality')} against $ / 1M output tokens</figcaption>"
        f'<canvas data-chart="quality" data-workload="{wid}"></canvas></figure>'
        f"<figure><figcaption>latency p50 / p95 (ms){' — not measured' if no_latency else ''}</figcaption>"
        f'<canvas data-chart="latency" data-workload="{wid}"></canvas></figure>'
        f"<figure><figcaption>history: {escape(v.primary_metric or 'quality')} per run</figcaption>"
        f'<canvas data-chart="history" data-workload="{wid}"></canvas></figure>'
        f"</div>{_table(v)}</section>"
    )


def render_page(
    views: list[WorkloadView],
    *,
    title: str = "Flywheel",
    inline: bool = False,
    static_prefix: str = "static",
    page_href: str | None = None,
) -> str:
    if inline:
        head = f"<style>{asset('flywheel.css')}</style>"
        scripts = "".join(f"<script>{asset(name)}</script>" for name in ("chart.umd.min.js", "flywheel.js"))
    else:
        head = f'<link rel="stylesheet" href="{static_prefix}/flywheel.css">'
        scripts = "".join(f'<script src="{static_prefix}/{n}"></script>' for n in ("chart.umd.min.js", "flywheel.js"))
    sections = "".join(_section(v, page_href) for v in views) or "<p>no flywheel workloads with results yet</p>"
    data = _json_for_script([v.chart_data() for v in views])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>{head}'
        f"</head><body><header><h1>{escape(title)}</h1></header><main>{sections}</main>"
        f'<script type="application/json" id="flywheel-data">{data}</script>{scripts}</body></html>'
    )
