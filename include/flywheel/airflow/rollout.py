"""The ``flywheel_rollout`` DAG: an approved promotion reaches serving (docs/loop.md).

Scheduled on every workload's promotion asset (``flywheel://promotions/<workload_id>``). Steps, each recorded
in XCom (its return value) and, with a ``flywheel_mongo`` connection, in MongoDB ``<results.mongo_database>
.rollouts`` (one document per rollout, ``steps`` appended):

``plan`` (candidate = the promoted model, incumbent = what serves the workload now) → ``shadow`` (recent live
requests replayed to the candidate; answers compared with the incumbent's by the workload's metric) →
``canary_<w>`` for each weight below 100 (the candidate gets w % of live traffic through the serving target;
its errors and p95 latency are read from the gateway's serving log, and a sample of the requests it answered
is replayed to the incumbent and compared) → ``gate`` (a person approves going to 100 % when the workload's
``selection.approval`` is ``required``) → ``full`` (100 %, watched like a canary step).

A step that falls below the bar (agreement < ``serving.min_agreement``, else the workload's
``selection.min_quality``; error rate > ``serving.max_error_rate``; p95 > ``serving.max_p95_ms``; too little
traffic within ``serving.step_timeout``) routes everything back to the incumbent, records the reason and
fails the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from flywheel.airflow.connections import ES_CONN, MONGO_CONN, es_client_from_connection, optional_connection
from flywheel.airflow.promotion import promotions_asset, promotions_uri
from flywheel.config import FlywheelConfig, load_config
from flywheel.jsontypes import JsonObject
from flywheel.serving.adapters.configmap import configmap_manifest, routing_of
from flywheel.serving.adapters.gateway import GatewayChat, GatewayTarget
from flywheel.serving.compare import agreement, message_of
from flywheel.serving.observe import served_lines, stats_for
from flywheel.serving.port import ChatClient, ServingTarget
from flywheel.serving.routing import Route, RoutingDoc, Step, rollback_model
from flywheel.serving.steps import Limits, Verdict, judge

log = logging.getLogger(__name__)
DAG_ID = "flywheel_rollout"
ROLLOUTS_COLLECTION = "rollouts"
GATEWAY_CONN = "flywheel_gateway"
ROLLBACK_KEY = "rollback"  # XCom key of a rolled-back step's audit record
GO_FULL, ROLL_BACK = "Go to 100 %", "Roll back"
POLL_S = 1.0


class RolloutPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rollout_id: str
    workload_id: str
    workload_type: str
    candidate: str
    incumbent: str
    approval: str
    promotion: dict[str, str | None]


class Halted(Exception):
    """A step rolled the workload back; the message is the reason, ``entry`` the audit record."""

    def __init__(self, message: str, entry: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.entry = entry


# ---------------------------------------------------------------------------------------------- targets
class ConfigMapServing:
    """The routing document in a Kubernetes ConfigMap, through the cncf-kubernetes provider's hook."""

    name = "configmap"

    def __init__(self, namespace: str, name: str, conn_id: str) -> None:
        self.namespace, self.cm_name, self.conn_id = namespace, name, conn_id

    def _api(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.conn_id).core_v1_client

    def _doc(self) -> RoutingDoc:
        from kubernetes.client.exceptions import ApiException

        try:
            cm = self._api().read_namespaced_config_map(self.cm_name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return RoutingDoc()
            raise
        return routing_of(cm.data)

    def current(self, workload_id: str) -> Route | None:
        return self._doc().routes.get(workload_id)

    def apply(self, route: Route) -> None:
        from kubernetes.client.exceptions import ApiException

        doc = self._doc()
        doc.routes[route.workload_id] = route
        body = configmap_manifest(doc, self.namespace, self.cm_name)
        api = self._api()
        try:
            api.replace_namespaced_config_map(self.cm_name, self.namespace, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_namespaced_config_map(self.namespace, body)


def open_target(cfg: FlywheelConfig) -> ServingTarget | None:
    s = cfg.serving
    if s.target == "gateway":
        assert s.routing_file is not None
        return GatewayTarget(s.routing_file)
    if s.target == "configmap":
        assert s.configmap is not None
        return ConfigMapServing(s.configmap.namespace, s.configmap.name, s.configmap.kubernetes_conn_id)
    return None


def open_chat(cfg: FlywheelConfig) -> ChatClient:

    assert cfg.serving.gateway_url is not None
    conn = optional_connection(GATEWAY_CONN)
    return GatewayChat(cfg.serving.gateway_url, conn.password if conn is not None and conn.password else None)


# ---------------------------------------------------------------------------------------------- audit
def _now() -> str:
    return datetime.now(UTC).isoformat()


def _collection(cfg: FlywheelConfig) -> Any:

    if optional_connection(MONGO_CONN) is None:
        return None
    from airflow.providers.mongo.hooks.mongo import MongoHook

    return MongoHook(mongo_conn_id=MONGO_CONN).get_conn()[cfg.results.mongo_database][ROLLOUTS_COLLECTION]


def record(cfg: FlywheelConfig, plan: RolloutPlan, step: dict[str, object]) -> dict[str, object]:
    """Append ``step`` to the rollout's audit (MongoDB when configured); return it for XCom."""
    entry = {"at": _now(), **step}
    coll = _collection(cfg)
    if coll is not None:
        # read-modify-write: one rollout runs at a time (max_active_runs=1) and its steps one after another
        key = {"rollout_id": plan.rollout_id}
        doc = coll.find_one(key, {"_id": 0}) or {**plan.model_dump(), "started_at": entry["at"], "steps": []}
        steps = [*doc.get("steps", []), entry]
        state = step.get("state", "running")
        coll.replace_one(key, {**doc, "steps": steps, "state": state, "updated_at": entry["at"]}, upsert=True)
    log.info("rollout %s: %s", plan.rollout_id, entry)
    return entry


# ---------------------------------------------------------------------------------------------- steps
def promotion_event(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The newest promotion event among those that triggered this run."""

    newest: tuple[str, Mapping[str, Any]] | None = None
    events = context.get("triggering_asset_events") or {}
    for key, evs in events.items():
        uri = str(getattr(key, "uri", key))
        for ev in evs or []:
            extra = getattr(ev, "extra", None) or {}
            wid = extra.get("workload_id")
            if isinstance(wid, str) and uri == promotions_uri(wid) and extra.get("model_id"):
                stamp = str(getattr(ev, "timestamp", ""))
                if newest is None or stamp >= newest[0]:
                    newest = (stamp, extra)
    return None if newest is None else newest[1]


def plan_rollout(config_path: str | None, context: Mapping[str, Any], rollout_id: str) -> dict[str, object]:
    """The rollout's plan from the promotion event; raises ``LookupError`` when there is nothing to roll out."""
    cfg = load_config(config_path)
    extra = promotion_event(context)
    if extra is None:
        raise LookupError("no promotion event with a model among this run's triggering events")
    w = cfg.workload(str(extra["workload_id"]))
    target = open_target(cfg)
    if target is None:
        raise LookupError(f"serving.target is 'none': the promotion of {extra['model_id']} is not rolled out")
    candidate = str(extra["model_id"])
    production = cfg.production_for(w)
    incumbent = rollback_model(target.current(w.workload_id), candidate, production.model_name if production else None)
    if incumbent is None:
        raise LookupError(f"{w.workload_id}: no route yet and no production model to start from")
    plan = RolloutPlan(
        rollout_id=rollout_id,
        workload_id=w.workload_id,
        workload_type=w.workload_type,
        candidate=candidate,
        incumbent=incumbent,
        approval=cfg.selection_for(w).approval if cfg.serving.gate == "workload" else cfg.serving.gate,
        promotion={"dag_id": extra.get("dag_id"), "run_id": extra.get("run_id"), "approver": extra.get("approver")},
    )
    if plan.candidate == plan.incumbent:
        raise LookupError(f"{plan.candidate} already serves {w.workload_id}: nothing to roll out")
    record(cfg, plan, {"step": "plan", "candidate": plan.candidate, "incumbent": plan.incumbent})
    return plan.model_dump()


def _limits(cfg: FlywheelConfig, plan: RolloutPlan, min_requests: int) -> Limits:
    s = cfg.serving
    bar = (
        s.min_agreement
        if s.min_agreement is not None
        else cfg.selection_for(cfg.workload(plan.workload_id)).min_quality
    )
    return Limits(
        min_agreement=bar, max_error_rate=s.max_error_rate, max_p95_ms=s.max_p95_ms, min_requests=min_requests
    )


def _route(plan: RolloutPlan, weight: int, step: Step) -> Route:
    return Route(
        workload_id=plan.workload_id,
        incumbent=plan.incumbent,
        candidate=plan.candidate,
        candidate_weight=weight,
        step=step,
        rollout=plan.rollout_id,
    )


def _live_records(
    cfg: FlywheelConfig, plan: RolloutPlan, since: float | None, model: str | None, limit: int
) -> list[JsonObject]:
    """The newest ``limit`` logged requests of the workload (answered by ``model`` when given)."""

    from flywheel.records.sources import open_log_source

    client = None
    if cfg.log_source.kind == "elasticsearch":
        client = es_client_from_connection(ES_CONN)
    source = open_log_source(cfg.log_source, client)
    after = datetime.fromtimestamp(since, UTC) if since is not None else None
    out: list[JsonObject] = []
    for rec in source.iter_records(plan.workload_id, since=after):
        if not isinstance(rec, dict) or not isinstance(rec.get("request"), dict):
            continue
        if model is not None and rec.get("served_model") != model:
            continue
        if model is None and rec.get("served_model") == plan.candidate:
            continue  # the shadow compares with the incumbent's answers
        out.append(rec)
        if len(out) >= limit:
            break
    return out


def _compare(chat: ChatClient, plan: RolloutPlan, records: list[JsonObject], ask: str) -> tuple[float | None, int, int]:
    """(agreement, compared, failed): each record's request sent to ``ask``; its answer compared with the
    logged one."""
    pairs = []
    failed = 0
    for rec in records:
        request, logged = rec.get("request"), rec.get("response")
        if not isinstance(request, dict):
            continue
        try:
            answer = chat.chat(ask, request)
        except Exception as exc:  # an answer that cannot be had is counted, and judged, not fatal
            log.warning("%s did not answer a replayed request: %s", ask, type(exc).__name__)
            failed += 1
            continue
        pairs.append((message_of(answer), message_of(logged if isinstance(logged, dict) else {})))
    return agreement(plan.workload_type, pairs), len(pairs), failed


def rollback(cfg: FlywheelConfig, plan: RolloutPlan, step: str, reason: str, figures: dict[str, object]) -> None:
    target = open_target(cfg)
    assert target is not None
    target.apply(_route(plan, 0, "rolled_back"))
    entry = record(cfg, plan, {**figures, "step": "rollback", "after": step, "reason": reason, "state": "rolled_back"})
    raise Halted(f"rolled back to {plan.incumbent} at {step}: {reason}", entry)


def shadow(config_path: str | None, raw_plan: Mapping[str, Any]) -> dict[str, object]:
    cfg, plan = load_config(config_path), RolloutPlan.model_validate(raw_plan)
    target = open_target(cfg)
    assert target is not None
    target.apply(_route(plan, 0, "shadow"))
    records = _live_records(cfg, plan, None, None, cfg.serving.shadow_requests)
    score, compared, failed = _compare(open_chat(cfg), plan, records, plan.candidate)
    verdict = judge(None, score, compared, _limits(cfg, plan, 0))
    if failed:
        verdict = _with_errors(verdict, failed, len(records), cfg.serving.max_error_rate)
    step = {"step": "shadow", "sampled": len(records), **verdict.as_dict()}
    if not verdict.ok:
        rollback(cfg, plan, "shadow", str(verdict.reason), step)
    return record(cfg, plan, step)


def _with_errors(v: Verdict, failed: int, asked: int, max_rate: float) -> Verdict:
    rate = failed / asked if asked else 0.0
    if rate <= max_rate:
        return v
    why = f"the candidate failed {failed} of {asked} replayed request(s) ({rate:.1%} > {max_rate:.1%})"
    return Verdict(
        False, "; ".join(x for x in (v.reason, why) if x), asked, failed, rate, v.p95_ms, v.agreement, v.compared
    )


def observe(config_path: str | None, raw_plan: Mapping[str, Any], weight: int, step_name: str) -> dict[str, object]:
    """Route ``weight`` % to the candidate, watch live traffic until ``serving.step_requests`` of its answers
    (or ``serving.step_timeout``), judge the step, roll back if it falls short."""
    cfg, plan = load_config(config_path), RolloutPlan.model_validate(raw_plan)
    s = cfg.serving
    target = open_target(cfg)
    assert target is not None and s.serving_log_dir is not None
    started = time.time()
    target.apply(_route(plan, weight, "full" if weight == 100 else "canary"))
    record(cfg, plan, {"step": step_name, "weight": weight, "state": "running"})
    deadline = time.monotonic() + s.step_timeout.total_seconds()
    while True:
        stats = stats_for(served_lines(s.serving_log_dir, plan.workload_id, started), plan.candidate)
        if stats.requests >= s.step_requests or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    records = _live_records(cfg, plan, started, plan.candidate, s.shadow_requests)
    score, compared, _ = _compare(open_chat(cfg), plan, records, plan.incumbent)
    verdict = judge(stats, score, compared, _limits(cfg, plan, s.step_requests))
    step = {"step": step_name, "weight": weight, **verdict.as_dict()}
    if not verdict.ok:
        rollback(cfg, plan, step_name, str(verdict.reason), step)
    if weight == 100:
        step["state"] = "done"
    return record(cfg, plan, step)


def gate_choice(answer: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """(go to 100 %, who) from the HITL gate's output; no answer (no gate) means go."""
    if not answer:
        return True, None
    chosen = answer.get("chosen_options") or []
    who = answer.get("responded_by_user") or answer.get("responded_by")
    return GO_FULL in chosen, str(who.get("name") if isinstance(who, dict) else who) if who else None


def full(
    config_path: str | None, raw_plan: Mapping[str, Any], gate_answer: Mapping[str, Any] | None
) -> dict[str, object]:
    cfg, plan = load_config(config_path), RolloutPlan.model_validate(raw_plan)
    go, who = gate_choice(gate_answer)
    if gate_answer:
        record(cfg, plan, {"step": "gate", "go": go, "by": who})
    if not go:
        rollback(cfg, plan, "gate", f"rolled back at the gate by {who or 'a person'}", {})
    return observe(config_path, raw_plan, 100, "full")


# ---------------------------------------------------------------------------------------------- the DAG
def build_rollout_dag(cfg: FlywheelConfig, config_path: str) -> Any:
    from airflow.providers.standard.operators.hitl import HITLOperator
    from airflow.sdk import DAG, AssetAny, get_current_context, task
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    weights = cfg.serving.canary_weights
    # a step that could not run (a lost worker, an unreachable API server) runs again: each step re-applies its
    # route, so that is safe; a rollback (AirflowFailException) is never retried
    retries, retry_delay = 2, timedelta(seconds=10)

    def halted(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Halted as exc:
            # the rollback's record in XCom too (key ROLLBACK_KEY): the page's serving state without MongoDB
            if exc.entry is not None:
                get_current_context()["ti"].xcom_push(key=ROLLBACK_KEY, value=exc.entry)
            raise AirflowFailException(str(exc)) from None

    with DAG(
        dag_id=DAG_ID,
        schedule=AssetAny(*(promotions_asset(w.workload_id) for w in cfg.workloads)),
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,  # one rollout at a time: two would fight over the routing document
        tags=["flywheel", "rollout", *cfg.airflow.tags],
        doc_md=__doc__,
    ) as dag:

        @task(retries=retries, retry_delay=retry_delay)
        def plan(dag_run: Any = None, **context: Any) -> dict[str, object]:
            try:
                return plan_rollout(config_path, context, f"{DAG_ID}/{dag_run.run_id}")
            except LookupError as exc:
                raise AirflowSkipException(str(exc)) from None

        @task(task_id="shadow", retries=retries, retry_delay=retry_delay)
        def shadow_step(p: Any) -> dict[str, object]:
            return halted(shadow, config_path, p)

        planned = plan()
        last: Any = shadow_step(planned)
        for w in weights[:-1]:

            @task(task_id=f"canary_{w}", retries=retries, retry_delay=retry_delay)
            def canary(p: Any, _prev: Any, weight: int = w) -> dict[str, object]:
                return halted(observe, config_path, p, weight, f"canary_{weight}")

            last = canary(planned, last)

        @task.branch
        def gate(p: Any, _prev: Any) -> str:
            return "approve_full" if p.get("approval") == "required" else "full"

        approve_full = HITLOperator(
            task_id="approve_full",
            subject="Route all of {{ ti.xcom_pull(task_ids='plan')['workload_id'] }} to the candidate?",
            body="Candidate `{{ ti.xcom_pull(task_ids='plan')['candidate'] }}` passed shadow and canary; "
            "incumbent `{{ ti.xcom_pull(task_ids='plan')['incumbent'] }}`.",
            options=[GO_FULL, ROLL_BACK],
            execution_timeout=cfg.serving.step_timeout * 100,
        )

        @task(trigger_rule="none_failed_min_one_success", retries=retries, retry_delay=retry_delay)
        def full_step(p: Any, ti: Any = None) -> dict[str, object]:
            answer = ti.xcom_pull(task_ids="approve_full")
            return halted(full, config_path, p, answer)

        branch = gate(planned, last)
        done = full_step.override(task_id="full")(planned)
        branch >> approve_full >> done
        branch >> done
    return dag
