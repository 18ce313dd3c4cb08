"""Task ``production_eval``: the production model as a reference experiment (docs/results.md).

With ``production.served_url`` (and the key in ``production.served_conn_id``'s password) production is
evaluated on the same eval rows as the candidates, where it already answers: no deployment, no GPU lease
(the task sits beside the GPU stage, outside pool ``flywheel_gpu``). Its rows artifact is the reference
of the report's paired comparison and slice table. Without ``served_url`` the task is skipped at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flywheel.airflow.connections import judge_endpoint, optional_connection
from flywheel.airflow.experiments import EvaluationOperator
from flywheel.platforms.core.configs import evaluation_config, evaluation_target, judge_ref
from flywheel.run import spec
from flywheel.run.experiment import ExperimentStep, Resource

if TYPE_CHECKING:
    from flywheel.config import ProductionConfig
    from flywheel.platforms.port import Platform

EXPERIMENT = spec.REFERENCE_EXPERIMENT


def production_api_key(production: ProductionConfig) -> str | None:
    """The password of ``served_conn_id`` (None without one). Raises ValueError naming the connection."""
    if not production.served_conn_id:
        return None
    conn = optional_connection(production.served_conn_id)
    if conn is None or not conn.password:
        raise ValueError(
            f"production.served_conn_id: connection '{production.served_conn_id}' is not defined or has no "
            "password (put production's API key there)"
        )
    return str(conn.password)


class ProductionEvalOperator(EvaluationOperator):
    """Evaluate the served production model on the eval set; the entry's experiment is ``production``."""

    def __init__(self, *, workload_id: str, production_model: str, **kwargs: Any) -> None:
        plan = {"model_name": production_model, "icl": False, "customize": False}
        super().__init__(experiment="base", plan=plan, customized=None, **kwargs)
        self.experiment, self.workload_id = EXPERIMENT, workload_id

    def production(self) -> ProductionConfig | None:
        cfg = self.cfg()
        return cfg.production_for(cfg.workload(self.workload_id))

    def check_plan(self, context: Any) -> None:
        production = self.production()
        if production is None or not production.served_url:
            self.skip(context, EXPERIMENT, "production.served_url is not set: production is not evaluated")

    def resource(self, context: Any, c: Platform, step: ExperimentStep) -> Resource:

        production = self.production()
        assert production is not None and production.served_url  # check_plan skipped otherwise
        served_url, files_url = production.served_url, self.datasets["eval"]["files_url"]

        def create(request_id: str) -> str:
            cfg = self.cfg()
            judge = judge_endpoint(cfg) if self.judge else None
            ref = judge_ref(judge.mode, judge.model_name, judge.url, judge.api_key) if judge else None
            limit = cfg.platform.evaluation_limit or int(self.datasets["eval"]["records"])
            config = evaluation_config(str(self.workload_type), f"{files_url}/eval_data.jsonl", ref, limit)
            target = evaluation_target(production.model_name, served_url, production_api_key(production))
            self._ref = c.create_evaluation(config, target, request_id)
            self.log.info("production eval of %s at %s: job %s", production.model_name, served_url, self._ref)
            return str(self._ref)

        return self.job_resource(c, c.find_evaluation, create, "done", self.cfg().platform.evaluation_timeout_s)
