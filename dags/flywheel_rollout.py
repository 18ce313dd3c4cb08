"""The ``flywheel_rollout`` DAG (docs/loop.md), when a serving target is configured: parse-time work is reading
the config. Without one there is nothing to roll out to, and no run of it is started by every promotion."""

from flywheel.airflow.dag_factory import load_for_dags
from flywheel.airflow.rollout import DAG_ID, build_rollout_dag

_cfg, _broken, _path = load_for_dags()
if _cfg is not None and _cfg.workloads and _cfg.serving.target != "none":
    globals()[DAG_ID] = build_rollout_dag(_cfg, _path)
