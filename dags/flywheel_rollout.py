"""The ``flywheel_rollout`` DAG (docs/loop.md): parse-time work is reading the config."""

from flywheel.airflow.dag_factory import load_for_dags
from flywheel.airflow.rollout import DAG_ID, build_rollout_dag

_cfg, _broken, _path = load_for_dags()
if _cfg is not None and _cfg.workloads:
    globals()[DAG_ID] = build_rollout_dag(_cfg, _path)
