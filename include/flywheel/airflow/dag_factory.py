"""Builds one DAG per configured workload (docs/contracts.md#the-dag). Used by ``dags/flywheel.py``.

Parse-time work is reading and validating the config file; clients, pandas, scikit-learn and the
platform are only touched inside tasks.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task, task_group
from airflow.sdk.definitions.xcom_arg import PlainXComArg

from flywheel.config import (
    ConfigError,
    FlywheelConfig,
    WorkloadConfig,
    default_config_path,
    load_config,
    read_yaml,
    validate_config,
)
from flywheel.run import spec

GROUP = spec.GROUP
MAX_ACTIVE_RUNS = 2


def doc_md(cfg: FlywheelConfig, w: WorkloadConfig) -> str:
    nims = ", ".join(f"`{n.model_name}`" for n in cfg.nims_for(w))
    return f"""### Data flywheel: `{w.workload_id}`
{w.description}

Pulls the logs of workload `{w.workload_id}` (client `{w.client_id or "any"}`), validates and de-duplicates
them, builds stratified eval / train / val sets (+ ICL examples), uploads them to the NeMo Data Store, then
for each candidate NIM ({nims}) deploys it (within the GPU budget of {cfg.platform.gpu_budget}, pool
`flywheel_gpu`), runs base, ICL and LoRA-customized evaluations and tears it down. `report` returns the
scores (XCom); `check_results` fails the run when any experiment failed. Trigger with the form to override
split, ICL and training settings for one run.
"""


def data_task_executor_config(cfg: FlywheelConfig) -> dict[str, object]:
    """A KubernetesExecutor pod_override giving the data tasks their resources (only when configured)."""
    resources = cfg.airflow.data_task_resources
    if not resources:
        return {}
    from kubernetes.client import models as k8s

    container = k8s.V1Container(name="base", resources=k8s.V1ResourceRequirements(**resources))
    return {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[container]))}


def _operator(out: object) -> Any:
    """The operator behind a TaskFlow call's output (Airflow types that output as a plain ``XComArg``)."""
    if not isinstance(out, PlainXComArg):
        raise TypeError(f"expected the output of one task, got {type(out).__name__}")
    return out.operator


def build_dag(cfg: FlywheelConfig, w: WorkloadConfig, config_path: str) -> DAG:
    from flywheel.airflow import log_watch
    from flywheel.airflow import tasks as t
    from flywheel.airflow.approval import ApprovePromotionOperator
    from flywheel.airflow.experiments import (
        CustomizeOperator,
        DeployNimOperator,
        EvaluationOperator,
        TeardownNimOperator,
        gpu_stage,
    )
    from flywheel.airflow.production_eval import ProductionEvalOperator
    from flywheel.airflow.promotion import promotions_asset
    from flywheel.airflow.run_report import RunReportLink
    from flywheel.airflow.run_settings import params_for
    from flywheel.airflow.shared_nims import PrepareEmbedderOperator, PrepareJudgeOperator, TeardownEmbedderOperator

    default_args = {"retries": cfg.airflow.retries, "retry_delay": timedelta(seconds=cfg.airflow.retry_delay_s)}
    with DAG(
        dag_id=w.dag_id,
        schedule=log_watch.schedule_for(cfg, w),  # cron OR the log asset (docs/loop.md)
        start_date=_start_date(cfg.airflow.start_date),
        catchup=False,
        # one run computing plus one waiting for a person: a pending approval never holds the next run (a
        # newer report supersedes it, docs/approvals.md); the GPU stage stays within its budget (pool and lease)
        max_active_runs=MAX_ACTIVE_RUNS,
        tags=["flywheel", w.workload_id, w.workload_type, *cfg.airflow.tags],
        doc_md=doc_md(cfg, w),
        params=params_for(cfg, w),
        default_args=default_args,
        description=w.description or f"Data flywheel for {w.workload_id}",
    ) as dag:
        executor_config = data_task_executor_config(cfg)

        @task(task_id=spec.EXTRACT, multiple_outputs=False, executor_config=executor_config)
        def extract_records(params: Any = None, dag_run: Any = None) -> Any:
            return t.extract_records(config_path, w.workload_id, dict(params or {}), w.dag_id, dag_run.run_id)

        @task(task_id=spec.BUILD, multiple_outputs=False, executor_config=executor_config)
        def build_datasets(extracted: Any, dag_run: Any = None) -> Any:
            return t.build_datasets(config_path, extracted, w.dag_id, dag_run.run_id)

        @task(task_id=spec.UPLOAD, multiple_outputs=False)
        def upload_datasets(extracted: Any, built: Any, dag_run: Any = None) -> Any:
            return t.upload_datasets(config_path, extracted, built, w.dag_id, dag_run.run_id)

        @task(task_id=spec.SELECT, multiple_outputs=False)
        def select_nims(extracted: Any, built: Any) -> Any:
            return t.select_nims(config_path, extracted, built)

        extracted = extract_records()
        embedder = PrepareEmbedderOperator(task_id=spec.PREPARE_EMBEDDER, run=extracted, config_path=config_path)
        built = build_datasets(extracted)
        embedder_down = TeardownEmbedderOperator(task_id=spec.TEARDOWN_EMBEDDER, config_path=config_path)
        embedder >> built >> embedder_down.as_teardown(setups=embedder)
        uploaded = upload_datasets(extracted, built)
        judge = PrepareJudgeOperator(task_id=spec.PREPARE_JUDGE, built=built, config_path=config_path).output
        plans = select_nims(extracted, built)

        # the judge scores its probes before its scores are believed: beside the GPU stage, never in the lease
        @task(task_id=spec.JUDGE_CHECK, multiple_outputs=False)
        def check_judge(extracted: Any, built: Any) -> Any:
            from flywheel.airflow.judge_check import probe_judge

            return probe_judge(config_path, extracted, built)

        judge_checked = check_judge(extracted, built)
        judge >> judge_checked
        production = cfg.production_for(w)
        # production on the same eval rows where it is served: no deployment, no lease (skipped without a URL)
        production_eval = ProductionEvalOperator(
            task_id=spec.PRODUCTION_EVAL,
            workload_id=w.workload_id,
            production_model=production.model_name if production else "production",
            datasets=uploaded,
            judge=judge,
            built=built,
            run=extracted,
            config_path=config_path,
        )

        common = {"run": extracted, "config_path": config_path, "map_index_template": "{{ nim_label }}"}

        @task(task_id=spec.LATENCY, trigger_rule="all_done", map_index_template="{{ nim_label }}", retries=0)
        def measure_latency(plan: Any, built: Any, deploy_task: str, customized: Any, ti: Any = None) -> Any:
            from flywheel.airflow.latency_task import measure_latency as measure

            get_current_context()["nim_label"] = plan["model_name"]  # type: ignore[typeddict-unknown-key]
            # the deploy task's output by its id: an XComArg would make this all_done task follow a setup
            deployed = ti.xcom_pull(task_ids=deploy_task, key="return_value", map_indexes=ti.map_index)
            return measure(config_path, plan, built, deployed, customized)

        @task_group(group_id=spec.GROUP)
        def nim_experiment(plan: Any) -> Any:
            deploy = DeployNimOperator(task_id=spec.DEPLOY, plan=plan, **gpu_stage(cfg, w), **common)
            # no GPU work while the judge is unchecked or down, or the datasets are not on the platform
            [judge, uploaded] >> deploy
            customize = CustomizeOperator(task_id=spec.CUSTOMIZE, plan=plan, datasets=uploaded, **common)
            evals = [
                EvaluationOperator(
                    task_id=exp.eval_task,
                    plan=plan,
                    experiment=exp.name,
                    datasets=uploaded,
                    judge=judge,
                    built=built,
                    customized=customize.output if spec.CUSTOMIZE in exp.tasks else None,
                    **common,
                )
                for exp in spec.EXPERIMENTS
            ]
            jobs = {customize.task_id: "customization", **{e.task_id: "evaluation" for e in evals}}
            teardown = TeardownNimOperator(
                task_id=spec.TEARDOWN_NIM, plan=plan, deployment=deploy.output, job_tasks=jobs, **common
            )
            for exp, evaluation in zip(spec.EXPERIMENTS, evals, strict=True):
                # an experiment starts once the NIM is deployed; the customized one trains first
                first = customize if spec.CUSTOMIZE in exp.tasks else evaluation
                deploy >> first
                if first is not evaluation:
                    first >> evaluation
            evals >> teardown.as_teardown(setups=deploy)
            # the decision: latency of each served experiment, still inside the lease
            latency = measure_latency(plan, built, deploy.task_id, customize.output)
            evals >> latency >> teardown
            return teardown

        experiments = nim_experiment.expand(plan=plans)  # the group's teardown (what the group returns)

        @task(task_id=spec.REPORT, trigger_rule="all_done", multiple_outputs=False)
        def report(ti: Any = None, dag_run: Any = None) -> Any:
            started = log_watch.trigger_reason(get_current_context(), w.workload_id)
            return t.report(config_path, ti, w.dag_id, dag_run.run_id, trigger_reason=started)

        @task(task_id=spec.CHECK, trigger_rule="all_done", retries=0)
        def check_results(ti: Any = None, dag_run: Any = None) -> str:
            from flywheel.airflow.cleanup import sweep_run

            sweep_run(config_path, w.dag_id, w.workload_id, dag_run.run_id)
            states = ti.get_task_states(dag_id=w.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id)
            failed = t.failed_tasks(states, spec.CHECK)
            return t.check_results(ti.xcom_pull(task_ids=spec.REPORT, key=spec.RETURN), failed)

        # report and check_results are teardowns without setups: marking the run failed skips every
        # pending normal task and, with them, the run's verdict (Airflow then decides the run from the
        # skipped leaves: success). As teardowns they still run, and check_results fails the run.
        summary = report().as_teardown()
        _operator(summary).operator_extra_links = (RunReportLink(),)
        experiments >> summary
        [uploaded, plans, judge, judge_checked, production_eval] >> summary
        summary >> check_results().as_teardown(on_failure_fail_dagrun=True)

        # the decision: a person approves the recommendation (or another candidate), then it is promoted
        selection = cfg.selection_for(w)
        approval = ApprovePromotionOperator(
            task_id=spec.APPROVE,
            report=summary,
            workload_id=w.workload_id,
            approval=selection.approval,
            response_timeout=selection.approval_timeout,
            config_path=config_path,
        )

        promotions = promotions_asset(w.workload_id)

        # inlets: its own earlier events, so a cleared or retried promote emits no second one
        @task(task_id=spec.PROMOTE, outlets=[promotions], inlets=[promotions])
        def promote(ti: Any = None, dag_run: Any = None, outlet_events: Any = None, inlet_events: Any = None) -> Any:
            from flywheel.airflow.promotion import promote as act

            events = (outlet_events, inlet_events)
            return act(config_path, w.workload_id, ti, w.dag_id, dag_run.run_id, events)

        # promote is a teardown (no setup): a run marked failed while the approval waits still reaches it,
        # and it fails the run when no decision was made (Airflow would otherwise decide from skipped leaves)
        summary >> approval >> promote().as_teardown(on_failure_fail_dagrun=True)
    return dag


# ------------------------------------------------------------------------------------------ config loading
_WORKLOAD_PROBLEM = re.compile(r"^workloads\[(\d+)\]")


def load_for_dags(path: str | None = None) -> tuple[FlywheelConfig | None, list[str], str]:
    """(config, broken-workload messages, path). A problem inside one workload entry drops only that
    workload; a problem anywhere else breaks every DAG (raised)."""
    config_path = str(Path(path) if path else default_config_path())

    try:
        return load_config(config_path), [], config_path
    except ConfigError as exc:
        failure = exc
    raw = read_yaml(config_path)  # it has loaded once: the problems are in its values
    entries = list(enumerate(raw["workloads"]))  # (index in the file, entry) of the workloads still in
    broken: list[str] = []
    # Until the rest is valid: checks that need a valid config (the trigger Params) only run once the
    # entries with field errors are out, and may then find more.
    while True:
        scoped = [(p, _WORKLOAD_PROBLEM.match(p)) for p in failure.problems]
        if not all(m for _, m in scoped):
            raise failure
        bad = {int(m.group(1)) for _, m in scoped if m}
        for p, m in scoped:
            at, entry = entries[int(m.group(1))]  # type: ignore[union-attr]
            name = entry.get("workload_id", f"#{at}") if isinstance(entry, dict) else f"#{at}"
            broken.append(f"workload '{name}' ({_WORKLOAD_PROBLEM.sub(f'workloads[{at}]', p, count=1)})")
        entries = [e for i, e in enumerate(entries) if i not in bad]
        raw["workloads"] = [entry for _, entry in entries]
        try:
            return validate_config(raw, config_path), broken, config_path
        except ConfigError as exc:
            failure = exc


def build_all(path: str | None = None, only: str | None = None) -> dict[str, DAG]:
    """``{dag_id: DAG}`` for every valid workload (or just ``only`` when Airflow parses for one task)."""
    cfg, _, config_path = load_for_dags(path)
    assert cfg is not None
    return {w.dag_id: build_dag(cfg, w, config_path) for w in cfg.workloads if only in (None, w.dag_id)}


def _start_date(text: str) -> Any:
    start = pendulum.parse(text, tz="UTC")
    if not isinstance(start, pendulum.DateTime):
        raise ConfigError([f"airflow.start_date: {text!r} is not a date"])
    return start
