"""Baseline for benchmarks/orchestration.py: the flywheel DAG's shape (same tasks, mapping over NIMs,
pool, setup/teardown, all_done report) with tasks that do nothing. Its wall time is Airflow's own cost."""

from typing import Any

import pendulum
from airflow.sdk import DAG, task, task_group

NIMS = ["meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct", "meta/llama-3.1-8b-instruct"]

with DAG(
    dag_id="noop_flywheel_shape",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["benchmark"],
) as dag:

    @task
    def extract_records() -> dict:
        return {}

    @task
    def prepare_embedder(_: dict) -> None:
        return None

    @task
    def build_datasets(_: dict) -> dict:
        return {}

    @task
    def teardown_embedder() -> None: ...

    @task
    def upload_datasets(_: dict) -> dict:
        return {}

    @task
    def prepare_judge(_: dict) -> None:
        return None

    @task
    def check_judge(_: dict) -> None:
        return None

    @task
    def production_eval(_: dict) -> None:
        return None

    @task
    def select_nims(_: dict) -> list:
        return [{"model_name": n} for n in NIMS]

    @task_group(group_id="nim_experiment")
    def nim_experiment(plan: dict) -> Any:
        @task(pool="flywheel_gpu")
        def deploy_nim(p: dict) -> str:
            return p["model_name"]

        @task
        def base_eval(_: str) -> None: ...

        @task
        def icl_eval(_: str) -> None: ...

        @task
        def customize(_: str) -> str:
            return ""

        @task
        def customized_eval(_: str) -> None: ...

        @task(trigger_rule="all_done")
        def measure_latency() -> None: ...

        @task
        def teardown_nim(_: str) -> None: ...

        d = deploy_nim(plan)
        [u, j] >> d  # the group runs at expand(), after u and j below exist
        c = customize(d)
        work = [base_eval(d), icl_eval(d), customized_eval(c)]
        latency = measure_latency()
        work >> latency
        td = teardown_nim(d)
        latency >> td.as_teardown(setups=d)
        return td

    @task(trigger_rule="all_done")
    def report() -> dict:
        return {}

    @task(trigger_rule="all_done")
    def check_results() -> None: ...

    @task
    def approve_promotion() -> None: ...

    @task(trigger_rule="all_done")
    def promote() -> None: ...

    e = extract_records()
    pe = prepare_embedder(e)
    b = build_datasets(e)
    pe >> b >> teardown_embedder().as_teardown(setups=pe)
    u = upload_datasets(b)
    j = prepare_judge(b)
    cj = check_judge(b)
    j >> cj
    pe_ = production_eval(b)
    [u, j] >> pe_
    s = select_nims(b)
    groups = nim_experiment.expand(plan=s)
    r = report()
    [groups, cj, pe_] >> r
    r >> check_results()
    r >> approve_promotion() >> promote()
