"""Reports broken workload entries of the flywheel config as an import error naming each entry,
while the valid workloads keep their DAGs (built by flywheel.py)."""

from flywheel.airflow.dag_factory import load_for_dags

_, _broken, _path = load_for_dags()
if _broken:
    raise ValueError(f"{_path}: skipped broken workload entries: " + "; ".join(_broken))
