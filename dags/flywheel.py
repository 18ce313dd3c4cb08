"""One data-flywheel DAG per workload in config/flywheel.yaml (or $FLYWHEEL_CONFIG): flywheel_<workload_id>."""

from airflow.sdk import get_parsing_context

from flywheel.airflow.dag_factory import build_all

# When a worker runs one task, build only that task's DAG.
globals().update(build_all(only=get_parsing_context().dag_id))
