"""Where the shared models' endpoints come from: Airflow connections (env ``AIRFLOW_CONN_*``) over config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.airflow.connections import embedding_endpoint, judge_endpoint, served_api_key
from flywheel.airflow.run_settings import RunSettings
from flywheel.airflow.shared_nims import embedder_needed
from flywheel.config import NimConfig, load_config

ROOT = Path(__file__).resolve().parents[3]
CFG = load_config(ROOT / "config" / "flywheel.yaml")


def with_embedding(**kw) -> object:
    return CFG.model_copy(update={"embedding": CFG.embedding.model_copy(update=kw)})


def test_embedding_connection_wins_over_config_url(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = with_embedding(mode="remote", url="https://config.example/v1/embeddings")
    monkeypatch.delenv("AIRFLOW_CONN_FLYWHEEL_EMBEDDING", raising=False)
    assert embedding_endpoint(cfg) == ("https://config.example/v1/embeddings", None)
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLYWHEEL_EMBEDDING",
        json.dumps({"conn_type": "http", "host": "https://conn.example/v1/embeddings", "password": "s3cret"}),
    )
    assert embedding_endpoint(cfg) == ("https://conn.example/v1/embeddings", "s3cret")
    # compose renders an empty host when EMBEDDING_URL is unset: the config URL still applies
    monkeypatch.setenv("AIRFLOW_CONN_FLYWHEEL_EMBEDDING", json.dumps({"conn_type": "http", "host": ""}))
    assert embedding_endpoint(cfg) == ("https://config.example/v1/embeddings", None)


def test_judge_key_never_in_the_public_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLYWHEEL_JUDGE",
        json.dumps({"conn_type": "http", "host": "https://judge.example/v1/chat/completions", "password": "k3y"}),
    )
    judge = judge_endpoint(CFG)
    assert judge.api_key == "k3y" and "k3y" not in json.dumps(judge.public())
    assert judge.public()["url"] == "https://judge.example/v1/chat/completions"


def test_served_key_comes_from_its_connection_with_a_clear_error_when_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nim = NimConfig(model_name="a/b", served_url="https://nim.example", served_conn_id="served_ab")
    assert served_api_key(NimConfig(model_name="a/b", served_url="https://nim.example")) is None
    monkeypatch.delenv("AIRFLOW_CONN_SERVED_AB", raising=False)
    with pytest.raises(ValueError, match=r"^a/b: connection 'served_ab' \(served_conn_id\) is not defined$"):
        served_api_key(nim)
    monkeypatch.setenv("AIRFLOW_CONN_SERVED_AB", json.dumps({"conn_type": "http"}))
    with pytest.raises(ValueError, match="has no password"):
        served_api_key(nim)
    monkeypatch.setenv("AIRFLOW_CONN_SERVED_AB", json.dumps({"conn_type": "http", "password": "k3y"}))
    assert served_api_key(nim) == "k3y"


@pytest.mark.parametrize(
    ("icl", "mode", "needed"),
    [
        ({"selection": "semantic_similarity"}, "local", True),
        ({"selection": "semantic_similarity"}, "remote", False),
        ({"selection": "uniform_distribution"}, "local", False),
        ({"selection": "semantic_similarity", "enabled": False}, "local", False),
    ],
)
def test_embedder_deployed_only_for_local_semantic_selection(icl: dict, mode: str, needed: bool) -> None:
    w = CFG.workload("customer_service")
    settings = RunSettings.resolve(CFG, w, {})
    settings = settings.model_copy(update={"icl": settings.icl.model_copy(update=icl)})
    assert embedder_needed(settings, with_embedding(mode=mode)) is needed


def test_shared_nims_have_valid_deployments() -> None:
    assert CFG.judge.as_nim().deployment_name == "meta-llama-3.3-70b-instruct"
    assert CFG.embedding.as_nim().deployment_name == "nvidia-llama-3.2-nv-embedqa-1b-v2"
