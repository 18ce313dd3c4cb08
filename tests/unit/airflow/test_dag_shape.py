"""The generated DAGs: shape, pool, teardown, params form, and broken-entry isolation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flywheel.airflow.dag_factory import build_all, load_for_dags

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dags() -> dict:
    return build_all(str(ROOT / "config" / "flywheel.yaml"))


def test_one_dag_per_workload_with_schedule_and_limits(dags):
    assert sorted(dags) == ["flywheel_customer_service", "flywheel_news_classifier", "flywheel_support_answers"]
    news = dags["flywheel_news_classifier"]
    # one run computing plus one waiting for a person (docs/approvals.md)
    assert news.max_active_runs == 2 and news.catchup is False
    assert "flywheel" in news.tags and news.doc_md


def test_task_graph(dags):
    dag = dags["flywheel_customer_service"]
    t = {task.task_id: task for task in dag.tasks}
    deploy, teardown = t["nim_experiment.deploy_nim"], t["nim_experiment.teardown_nim"]
    assert deploy.pool == "flywheel_gpu"
    assert teardown.is_teardown and deploy.is_setup
    assert "nim_experiment.customize" in t["nim_experiment.customized_eval"].upstream_task_ids
    assert "nim_experiment.deploy_nim" not in t["nim_experiment.customized_eval"].upstream_task_ids
    for name in ("base_eval", "icl_eval", "customize"):
        assert "nim_experiment.deploy_nim" in t[f"nim_experiment.{name}"].upstream_task_ids
    assert {"nim_experiment.base_eval", "nim_experiment.icl_eval", "nim_experiment.customized_eval"} <= (
        teardown.upstream_task_ids
    )
    # the verdict survives "mark run failed" (which skips pending normal tasks but lets teardowns run),
    # and a failing check_results fails the run
    assert t["report"].is_teardown and t["check_results"].is_teardown
    assert t["check_results"].on_failure_fail_dagrun and not t["report"].on_failure_fail_dagrun
    assert not t["report"].upstream_task_ids & {x.task_id for x in dag.tasks if x.is_setup}
    assert t["check_results"].upstream_task_ids == {"report"}
    assert deploy.map_index_template == "{{ nim_label }}"
    # the embedding NIM brackets build_datasets only; the judge is ready before any evaluation
    embedder, embedder_down = t["prepare_embedder"], t["teardown_embedder"]
    assert embedder.is_setup and embedder_down.is_teardown
    assert t["build_datasets"].upstream_task_ids == {"extract_records", "prepare_embedder"}
    assert embedder_down.upstream_task_ids == {"build_datasets", "prepare_embedder"}
    assert "prepare_judge" in t["nim_experiment.base_eval"].upstream_task_ids
    # no GPU work (deployment, customization) while the judge is unchecked or down
    assert "prepare_judge" in deploy.upstream_task_ids
    # the judge's probes run beside the GPU stage (never in the lease) and feed the report
    assert t["check_judge"].upstream_task_ids == {"extract_records", "build_datasets", "prepare_judge"}
    assert "check_judge" in t["report"].upstream_task_ids and t["check_judge"].pool != "flywheel_gpu"
    # production as a reference experiment: on the uploaded eval set, outside the lease, read by the report
    production = t["production_eval"]
    assert {"upload_datasets", "prepare_judge"} <= production.upstream_task_ids and production.pool != "flywheel_gpu"
    assert "production_eval" in t["report"].upstream_task_ids


def test_params_form(dags):
    params = dags["flywheel_customer_service"].params
    nims = params.get_param("nims").schema
    assert nims["type"] == "array" and nims["items"]["enum"] == nims["examples"]
    assert params.get_param("workload_type").schema["enum"] == ["auto", "generic", "tool_calling", "classification"]
    assert params["eval_size"] == 100 and params["val_ratio"] == 0.1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("eval_size", 0),
        ("val_ratio", 1.0),
        ("workload_type", "x"),
        ("nims", ["meta/nope"]),
        ("nims", []),
        ("since", "yesterday"),
    ],
)
def test_params_reject_bad_values(dags, name, value):
    import copy

    params = copy.deepcopy(dags["flywheel_customer_service"].params)
    with pytest.raises(Exception, match="Invalid input for param"):
        params[name] = value


def test_broken_workload_entry_does_not_hide_the_others(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    raw["workloads"][0]["schedule"] = 5  # not a string
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg, broken, _ = load_for_dags(str(path))
    assert [w.workload_id for w in cfg.workloads] == ["news_classifier", "support_answers"]
    assert broken == ["workload 'customer_service' (workloads[0].schedule: must be a string)"]
    assert sorted(build_all(str(path))) == ["flywheel_news_classifier", "flywheel_support_answers"]


def test_data_tasks_get_pod_resources_only_when_configured(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
    raw["airflow"] = {"data_task_resources": {"requests": {"cpu": "1", "memory": "4Gi"}}}
    path = tmp_path / "k8s.yaml"
    path.write_text(yaml.safe_dump(raw))
    dag = build_all(str(path))["flywheel_customer_service"]
    pod = dag.get_task("build_datasets").executor_config["pod_override"]
    assert pod.spec.containers[0].resources.requests == {"cpu": "1", "memory": "4Gi"}
    assert dag.get_task("nim_experiment.deploy_nim").executor_config == {}
    plain = build_all(str(ROOT / "config" / "flywheel.yaml"))["flywheel_customer_service"]
    assert plain.get_task("extract_records").executor_config == {}


def test_decision_tasks(dags):
    t = {task.task_id: task for task in dags["flywheel_customer_service"].tasks}
    measure = t["nim_experiment.measure_latency"]
    assert {"nim_experiment.base_eval", "nim_experiment.icl_eval", "nim_experiment.customized_eval"} <= (
        measure.upstream_task_ids
    )
    assert measure.downstream_task_ids == {"nim_experiment.teardown_nim"}  # inside the lease
    assert measure.trigger_rule == "all_done" and measure.map_index_template == "{{ nim_label }}"
    approval, promote = t["approve_promotion"], t["promote"]
    assert approval.upstream_task_ids == {"report"} and promote.upstream_task_ids == {"approve_promotion"}
    assert approval.retries == 0 and approval.response_timeout.days == 7
    assert set(approval.params) == {"comment"}  # the trigger form's Params stay out of the approval form
    assert [a.uri for a in promote.outlets] == ["flywheel://promotions/customer_service"]
