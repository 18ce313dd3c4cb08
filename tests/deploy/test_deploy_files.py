"""docker-compose.yaml passes `docker compose config` (real Compose v2), and the deploy files agree with
what the tests exercise: image pin, services, health checks, connections, pool, Helm values."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = [
    str(ROOT / "scripts" / "docker-compose.sh"),
    "-f",
    str(ROOT / "docker-compose.yaml"),
    "--env-file",
    str(ROOT / ".env.example"),
]


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMPOSE, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered() -> dict:
    out = compose("--profile", "emulator", "config", "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_docker_compose_config_passes():
    out = compose("config", "-q")
    assert out.returncode == 0, out.stderr
    broken = ROOT / "tests" / "deploy" / "broken-compose.yaml"
    broken.write_text("services:\n  x:\n    image: a\n    depends_on: [nope]\n")
    try:
        bad = subprocess.run(
            [str(ROOT / "scripts" / "docker-compose.sh"), "-f", str(broken), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode != 0  # the check can fail
    finally:
        broken.unlink()


def test_every_variable_has_a_default_so_a_fresh_clone_renders_without_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = subprocess.run(
        [
            str(ROOT / "scripts" / "docker-compose.sh"),
            "-f",
            str(ROOT / "docker-compose.yaml"),
            "--env-file",
            str(empty),
            "--profile",
            "emulator",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "not set" not in out.stderr, out.stderr
    env = json.loads(out.stdout)["services"]["airflow-worker"]["environment"]
    assert json.loads(env["AIRFLOW_CONN_FLYWHEEL_NEMO"])["host"] == "http://emulator:8100"


def test_services_health_and_profile(rendered):
    services = rendered["services"]
    expected = {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-init",
        "elasticsearch",
        "mongodb",
        "emulator",
    }
    assert expected <= set(services)
    for name in expected - {"airflow-init"}:
        assert "healthcheck" in services[name], name
    assert services["emulator"]["profiles"] == ["emulator"]
    assert {"postgres-db", "es-data", "mongo-data", "flywheel-artifacts"} <= set(rendered["volumes"])
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow pools import /opt/airflow/config/pools.json" in init and "db migrate" in init
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for conn in ("FLYWHEEL_NEMO", "FLYWHEEL_JUDGE", "FLYWHEEL_EMBEDDING", "FLYWHEEL_ES", "FLYWHEEL_MONGO"):
        json.loads(env[f"AIRFLOW_CONN_{conn}"])  # each connection is valid JSON after interpolation
    assert json.loads(env["AIRFLOW_CONN_FLYWHEEL_MONGO"])["conn_type"] == "mongo"


def test_startup_order_waits_on_health(rendered):
    services = rendered["services"]
    airflow = [n for n in services if n.startswith("airflow-")]
    for name in airflow:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    worker = services["airflow-worker"]["depends_on"]
    assert worker["elasticsearch"]["condition"] == worker["mongodb"]["condition"] == "service_healthy"
    assert worker["emulator"] == {"condition": "service_healthy", "required": False}
    for store, volume in (("elasticsearch", "es-data"), ("mongodb", "mongo-data"), ("postgres", "postgres-db")):
        assert any(v.get("source") == volume for v in services[store]["volumes"]), store
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    assert services["emulator"]["command"] == ["flywheel", "emulator", "--host", "0.0.0.0", "--port", "8100"]
    assert services["emulator"]["image"] == services["airflow-scheduler"]["image"]  # our image


def test_emulator_urls_from_env_reach_the_connections(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "NEMO_BASE_URL=http://emulator:8100\nNIM_PROXY_URL=http://emulator:8100\n"
        "DATASTORE_URL=http://emulator:8100\nJUDGE_URL=http://emulator:8100/v1/chat/completions\n"
        "NEMO_API_KEY=k-123\n"
    )
    out = subprocess.run(
        [
            str(ROOT / "scripts" / "docker-compose.sh"),
            "-f",
            str(ROOT / "docker-compose.yaml"),
            "--env-file",
            str(env),
            "--profile",
            "emulator",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    env_vars = json.loads(out.stdout)["services"]["airflow-worker"]["environment"]
    nemo = json.loads(env_vars["AIRFLOW_CONN_FLYWHEEL_NEMO"])
    assert nemo == {
        "conn_type": "http",
        "host": "http://emulator:8100",
        "password": "k-123",
        "extra": {"nim_url": "http://emulator:8100", "datastore_url": "http://emulator:8100"},
    }
    judge = json.loads(env_vars["AIRFLOW_CONN_FLYWHEEL_JUDGE"])
    assert judge["host"] == "http://emulator:8100/v1/chat/completions"
    assert json.loads(env_vars["AIRFLOW_CONN_FLYWHEEL_ES"]) == {
        "conn_type": "elasticsearch",
        "host": "elasticsearch",
        "port": 9200,
        "login": "",
        "password": "",
        "extra": {"scheme": "http"},
    }
    assert json.loads(env_vars["AIRFLOW_CONN_FLYWHEEL_MONGO"])["schema"] == "flywheel"
    assert env_vars["FLYWHEEL_ARTIFACTS"] == "/opt/airflow/artifacts"


def test_image_pins_match_the_lock():
    airflow = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    base = re.search(r"^FROM apache/airflow:(\S+)$", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    assert base.startswith(f"{airflow}-python3.11")


def test_dockerfile_copies_what_exists_and_never_the_secrets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = [src for line in re.findall(r"^COPY (?:--\S+ )*(.+)$", dockerfile, re.M) for src in line.split()[:-1]]
    assert {"requirements.txt", "pyproject.toml", "include", "dags", "plugins", "config"} <= set(sources)
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for src in sources:
        assert (ROOT / src).exists() and src not in ignored, src
    assert {".env", ".venv", ".git", "tests"} <= ignored
    assert re.search(r"pip install --no-cache-dir --no-deps /opt/flywheel$", dockerfile, re.M)  # not editable
    compose_env = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["x-airflow-common"]["environment"]
    assert "FLYWHEEL_CONFIG=/opt/airflow/config/flywheel.yaml" in dockerfile
    assert compose_env["FLYWHEEL_CONFIG"] == "/opt/airflow/config/flywheel.yaml"


def test_pool_file_is_the_single_slot_gpu_pool():
    pools = json.loads((ROOT / "config" / "pools.json").read_text())
    assert pools == {
        "flywheel_gpu": {"slots": 1, "description": pools["flywheel_gpu"]["description"], "include_deferred": False}
    }


def test_env_example_documents_every_compose_variable():
    text = (ROOT / "docker-compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)(?::-[^}]*)?\}", text))  # $${X} is escaped
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used <= documented, sorted(used - documented)


# Key paths of the official Apache Airflow Helm chart (1.18+, Airflow 3) that our values use, with the type the
# chart's templates expect. The chart cannot be fetched here; this list was checked by hand against the chart's
# values.schema.json and templates (create-user-job, migrate-database-job, pod-template-file).
CHART_PATHS = {
    "executor": str,
    "airflowVersion": str,
    "defaultAirflowTag": str,
    "images.airflow.repository": str,
    "images.airflow.tag": str,
    "images.airflow.pullPolicy": str,
    "extraEnvFrom": str,
    "env": list,
    "config": dict,
    "volumes": list,
    "volumeMounts": list,
    "webserver.defaultUser.enabled": bool,
    "migrateDatabaseJob.useHelmHooks": bool,
    "migrateDatabaseJob.args": list,
    "triggerer.enabled": bool,
    "triggerer.replicas": int,
    "dagProcessor.enabled": bool,
    "workers.resources": dict,
    "logs.persistence.enabled": bool,
    "logs.persistence.size": str,
    "postgresql.enabled": bool,
}


def leaf_paths(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict) or prefix in ("config", "workers.resources"):  # free-form maps
        return {prefix}
    return set().union(*(leaf_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in node.items()))


def test_helm_values_only_use_known_chart_keys_with_the_expected_types():
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert leaf_paths(values) == set(CHART_PATHS)
    for path, kind in CHART_PATHS.items():
        node: object = values
        for part in path.split("."):
            node = node[part]  # type: ignore[index]
        assert isinstance(node, kind), path
    assert values["airflowVersion"] == re.search(
        r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M
    ).group(1)


def test_helm_values_use_kubernetes_executor_and_secret_connections():
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["executor"] == "KubernetesExecutor"
    assert values["triggerer"]["enabled"] is True  # every NeMo wait defers
    assert yaml.safe_load(values["extraEnvFrom"]) == [{"secretRef": {"name": "flywheel-connections"}}]
    names = {e["name"] for e in values["env"]}
    assert {"FLYWHEEL_CONFIG", "FLYWHEEL_ARTIFACTS"} <= names
    assert "airflow pools import /opt/airflow/config/pools.json" in values["migrateDatabaseJob"]["args"][-1]
    core = values["config"]["core"]
    assert core["auth_manager"].endswith("SimpleAuthManager")
    mounts = {m["mountPath"] for m in values["volumeMounts"]}
    assert str(Path(core["simple_auth_manager_passwords_file"]).parent) in mounts
    text = (ROOT / "deploy" / "helm" / "values.yaml").read_text()
    uncommented = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert not re.search(r"(password|api_key|token)\s*:\s*\S", uncommented, re.I)  # secrets stay in Secrets
