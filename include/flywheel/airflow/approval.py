"""Task ``approve_promotion``: a person approves the recommendation, picks another completed candidate, or
rejects, with Airflow's own human-in-the-loop operator (providers-standard ``HITLOperator``).

The task waits deferred on :class:`~flywheel.airflow.approval_wait.ApprovalWaitTrigger` (no worker slot),
not in Airflow 3.3's ``awaiting_input`` park, so that a newer report of the same workload can close it as
``superseded`` (docs/approvals.md). The options are built at run time from the report (the candidates are
only known then) and recomputed the same way when the answer arrives. XCom ``decision`` (docs/contracts.md#results) is
``{"status": "approved|rejected|expired|auto|skipped|superseded", "nim", "experiment", "by", "at",
"comment"}``; a superseded decision adds ``"superseded_by"`` (the newer run's id).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException

from flywheel.config import load_config
from flywheel.jsontypes import JsonObject
from flywheel.run import spec
from flywheel.run.models import Decision, DecisionStatus, Report, RunRef

REJECT = "Reject"
SUPERSEDED: DecisionStatus = "superseded"
POKE_S = 5.0
APPROVE_PREFIX = "Approve: "
INSTEAD_PREFIX = "Promote instead: "


def choices(report: Report) -> dict[str, tuple[str, str] | None]:
    """Option label → (nim, experiment), or None for Reject. The recommendation comes first; every other
    completed candidate with a primary score follows."""
    rec = report.recommendation
    recommended = (rec.nim, rec.experiment) if rec else None
    out: dict[str, tuple[str, str] | None] = {}
    if rec:
        out[f"{APPROVE_PREFIX}{rec.nim} · {rec.experiment}"] = (rec.nim, rec.experiment)
    for row in report.comparison:
        key = (row.nim, row.experiment)
        if key != recommended:
            out[f"{INSTEAD_PREFIX}{row.nim} · {row.experiment}"] = key
    out[REJECT] = None
    return out


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def body(report: Report) -> str:
    """Markdown: the recommendation, production's cost, and the comparison table."""
    rec, prod = report.recommendation, report.production
    if rec is None:
        raise ValueError("recommendation: the approval body needs one")
    p95 = rec.p95_ms if rec.p95_ms is not None else "—"
    lines = [
        f"### Recommended for `{report.workload_id}`: `{rec.nim}` ({rec.experiment})",
        "",
        f"- **{rec.primary_metric}** {rec.score:.3f}"
        + (f" (95% CI {rec.ci[0]:.3f}–{rec.ci[1]:.3f})" if rec.ci else " (no interval)")
        + f"; bar ≥ {rec.min_quality:g}"
        + (f", p95 ≤ {rec.max_p95_ms:g} ms" if rec.max_p95_ms is not None else ""),
        f"- **p95 latency** {p95} ms; "
        f"**cost** {_money(rec.per_1m_output_tokens_usd)} per 1M output tokens"
        + (f" vs production `{prod.model_name}` {_money(prod.per_1m_output_tokens_usd)}" if prod else ""),
        f"- **savings** {_money(rec.savings_per_month_usd)} per month at the logged volume",
        f"- {rec.reason}",
        "",
        "| NIM | experiment | score | 95% CI | p95 ms | $ / 1M output | meets bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report.comparison:
        ci = f"{r.ci[0]:.3f}–{r.ci[1]:.3f}" if r.ci else "—"
        verdict = "yes" if r.meets_bar else f"no ({r.why_not})"
        row_p95 = "—" if r.p95_ms is None else f"{r.p95_ms:.0f}"
        lines.append(
            f"| `{r.nim}` | {r.experiment} | {r.score:.3f} | {ci} | {row_p95} | "
            f"{_money(r.per_1m_output_tokens_usd)} | {verdict} |"
        )
    lines += ["", "Approving promotes the model (or adapter): it is marked on the platform, kept, and announced"]
    lines += ["as an Airflow Asset event. Add a comment for the audit record."]
    return "\n".join(lines)


def decision(
    status: DecisionStatus,
    pick: tuple[str, str] | None,
    by: str | None,
    comment: str | None,
    at: datetime | None = None,
    superseded_by: str | None = None,
) -> Decision:
    out = Decision(
        status=status,
        nim=pick[0] if pick else None,
        experiment=pick[1] if pick else None,
        by=by,
        at=(at or datetime.now(UTC)).isoformat(),
        comment=comment,
    )
    if superseded_by is not None:
        out.superseded_by = superseded_by
    return out


class ApprovePromotionOperator(HITLOperator):
    """Ask for approval of the report's recommendation (``selection.approval: required``); ``auto`` decides
    without a person, ``off`` never promotes; no recommendation skips with the reason."""

    template_fields = ("subject", "body", "report")

    def __init__(
        self,
        *,
        report: Any,
        workload_id: str,
        approval: str,
        response_timeout: timedelta,
        config_path: str | None = None,
        **kw: Any,
    ):
        kw.pop("params", None)  # the DAG's trigger Params do not belong in the approval form
        kw["retries"] = 0  # a retry would ask the question again
        super().__init__(
            subject=f"Promote a cheaper model for {workload_id}?",
            options=[REJECT],  # replaced at run time by the candidates of this run
            params={"comment": Param("", type="string", title="Comment (kept in the audit record)", source="task")},
            response_timeout=response_timeout,
            **kw,
        )
        self.report, self.approval = report, approval
        self.workload_id, self.config_path = workload_id, config_path

    def _report(self) -> Report:
        return Report.model_validate(self.report or {})

    def _push(self, context: Any, value: Decision) -> JsonObject:
        out = value.to_json()
        context["ti"].xcom_push(key=spec.DECISION_KEY, value=out)
        self.log.info("DECISION %s", out)
        return out

    def execute(self, context: Any) -> Any:
        from flywheel.airflow.approval_wait import claim_latest, newer_than

        report = self._report()
        mine = _run_ref(context)
        latest = claim_latest(self.workload_id, mine)
        if newer_than(latest, mine):
            # a newer report of this workload already reached its decision: nobody approves stale numbers
            return self._superseded(context, latest.run_id)
        rec = report.recommendation
        if not rec:
            note = report.recommendation_note
            reason = (note.reason if note else None) or "no report"
            self._push(context, decision("skipped", None, None, f"no recommendation: {reason}"))
            raise AirflowSkipException(f"no recommendation: {reason}")
        pick = (rec.nim, rec.experiment)
        if self.approval == "off":
            self._push(context, decision("skipped", pick, None, "selection.approval is off: nothing is promoted"))
            raise AirflowSkipException("selection.approval is off: nothing is promoted")
        if self.approval == "auto":
            return self._push(context, decision("auto", pick, "flywheel (selection.approval: auto)", rec.reason))
        self.options = list(choices(report))
        self.body = body(report)
        return self._ask(context, mine)

    def _ask(self, context: Any, mine: RunRef) -> Any:
        """Write the question (Airflow's HITL request: the UI's form) and wait deferred for the answer."""
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail

        from flywheel.airflow.approval_wait import ApprovalWaitTrigger

        ti_id = context["task_instance"].id
        upsert_hitl_detail(
            ti_id=ti_id,
            options=self.options,
            subject=self.subject,
            body=self.body,
            defaults=self.defaults,
            multiple=self.multiple,
            params=self.serialized_params,
            assigned_users=self.assigned_users,
        )
        deadline = time.time() + self.response_timeout.total_seconds() if self.response_timeout else None
        self.log.info("Waiting for an answer (or a newer report of %s)", self.workload_id)
        trigger = ApprovalWaitTrigger(
            ti_id=str(ti_id),
            workload_id=self.workload_id,
            mine=mine,
            deadline=deadline,
            not_before=time.time() + defer_floor_s(self.config_path),
            poke_s=POKE_S,
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def _superseded(self, context: Any, newer_run: str) -> JsonObject:
        comment = f"superseded by the newer report of run {newer_run}"
        return self._push(context, decision(SUPERSEDED, None, "flywheel", comment, superseded_by=newer_run))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if event.get("error_type") == "timeout":
            return self._push(context, decision("expired", None, None, "no answer before selection.approval_timeout"))
        if "superseded_by" in event:  # the trigger closed the request (a person's answer would have won)
            return self._superseded(context, event["superseded_by"])
        mapping = choices(self._report())
        self.options = list(mapping)
        answer = super().execute_complete(context, event)
        chosen = answer["chosen_options"][0]
        user = answer.get("responded_by_user") or {}
        who = user.get("name") or user.get("id") if isinstance(user, dict) else str(user)
        comment = (answer.get("params_input") or {}).get("comment") or None
        pick = mapping.get(chosen)
        at = answer.get("responded_at")
        at = at if isinstance(at, datetime) else None
        return self._push(context, decision("approved" if pick else "rejected", pick, who, comment, at))


def _run_ref(context: Any) -> RunRef:
    run = context["dag_run"]
    after = getattr(run, "run_after", None) or getattr(run, "logical_date", None)
    return RunRef(
        dag_id=run.dag_id,
        run_id=run.run_id,
        run_after=after.isoformat() if isinstance(after, datetime) else str(after or ""),
    )


def defer_floor_s(config_path: str | None) -> float:
    """The wait does not end sooner than this after deferring: Airflow 3.3 fails a task resumed before the
    scheduler handled the executor's report of the execution that deferred (apache/airflow#72716); see
    ``NemoOperator.defer_floor_s`` and docs/approvals.md."""
    from airflow.sdk.configuration import conf

    try:
        extra = load_config(config_path).platform.min_defer_s
    except Exception:  # the floor must not fail the approval; the config default
        extra = 2.0
    from flywheel.airflow.approval_wait import ANSWER_MARGIN_S

    return conf.getfloat("workers", "min_heartbeat_interval") + extra + ANSWER_MARGIN_S
