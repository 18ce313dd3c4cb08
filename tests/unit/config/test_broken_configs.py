"""A corpus of configs a user gets wrong: each is refused by ``flywheel check-config`` with one line naming the
file and the problem (key, field or line), never a traceback; and what check-config accepts, the DAG's Params
accept (the same JSON-schema validation)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from flywheel.config import ConfigError, load_config
from flywheel.params import param_problem, param_specs

ROOT = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((ROOT / "config" / "flywheel.yaml").read_text())
SMALL = BASE["nims"][0]["model_name"]


def check_config(path: Path | None, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "FLYWHEEL_CONFIG"} | (env or {})
    cmd = [sys.executable, "-m", "flywheel.cli", "check-config", *([str(path)] if path else [])]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)


def changed(edit: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    edit(raw)
    return raw


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        node = raw
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = value

    return edit


TEXT_CASES = {
    # a duplicate key: PyYAML keeps the last silently (min_quality 0.9 would load as 0.2)
    "duplicate_key": (
        "defaults:\n  selection:\n    min_quality: 0.9\n    min_quality: 0.2\n"
        "workloads: []\nnims: [{model_name: a/b}]\n",
        "invalid YAML: duplicate key 'min_quality' at line 4 (first at line 3)",
    ),
    "duplicate_top_level_key": (
        "nims: [{model_name: a/b}]\nworkloads: []\nnims: [{model_name: c/d}]\n",
        "duplicate key 'nims' at line 3 (first at line 1)",
    ),
    "not_yaml": ("workloads: [\n", "invalid YAML at line"),
    "not_a_mapping": ("- 1\n- 2\n", "(top level): must be a mapping"),
}

VALUE_CASES = {
    "same_nim_twice_in_a_workload": (
        _set(("workloads", 0, "nims"), [SMALL, SMALL]),
        f"workloads[0].nims[1]: duplicate '{SMALL}' (first at workloads[0].nims[0])",
    ),
    "epochs_beyond_the_param_maximum": (_set(("defaults", "training", "epochs"), 1000), "epochs: must be ≤ 100"),
    "batch_size_beyond_the_param_maximum": (
        _set(("defaults", "training", "batch_size"), 10**6),
        "training.batch_size: must be ≤ 4096",
    ),
    "adapter_dim_beyond_the_param_maximum": (
        _set(("workloads", 0, "overrides"), {"lora": {"adapter_dim": 4096}}),
        "workloads[0].overrides.lora.adapter_dim: must be ≤ 1024",
    ),
    "eval_size_1e30": (_set(("defaults", "split", "eval_size"), 1e30), "split.eval_size: is too large"),
    "eval_size_fraction": (_set(("defaults", "split", "eval_size"), 10.5), "split.eval_size: must be an integer"),
    "negative_seed": (_set(("defaults", "split", "random_seed"), -1), "split.random_seed: must be ≥ 0"),
    "seed_beyond_numpy": (_set(("defaults", "split", "random_seed"), 2**32), "random_seed: must be ≤ 4294967295"),
    "limit_zero": (_set(("defaults", "split", "limit"), 0), "split.limit: must be ≥ 1"),
    "latency_cap_absurd": (_set(("defaults", "selection", "max_p95_ms"), 1e30), "max_p95_ms: must be ≤ 3600000"),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_broken_text_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    text, expected = TEXT_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    out = check_config(path)
    assert out.returncode == 1, out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ") and expected in lines[0], lines


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_values_the_dag_would_refuse_are_refused(tmp_path: Path, case: str) -> None:
    edit, expected = VALUE_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(changed(edit)))
    out = check_config(path)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert any(line.startswith(f"{path}: ") and expected in line for line in out.stdout.splitlines()), out.stdout


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("workloads: []\n# café\nnims: []\n".encode("latin-1"))
    out = check_config(path)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert out.stdout.splitlines() == [f"{path}: not UTF-8 text: byte 0xe9 at line 2; save the file as UTF-8"]


def test_a_directory_or_missing_file_is_one_line(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "absent.yaml"):
        out = check_config(path)
        assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
        assert len(out.stdout.splitlines()) == 1 and "cannot read config file" in out.stdout


def test_ok_names_the_file_and_config_in_the_current_directory_is_found(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    local = tmp_path / "config" / "flywheel.yaml"
    local.write_text(yaml.safe_dump(changed(_set(("workloads", 0, "workload_id"), "from_cwd"))))
    out = check_config(None, cwd=tmp_path)
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[0] == f"ok: {local}"
    assert "from_cwd" in out.stdout
    # $FLYWHEEL_CONFIG comes first, as the help says
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(BASE))
    out = check_config(None, cwd=tmp_path, env={"FLYWHEEL_CONFIG": str(other)})
    assert out.stdout.splitlines()[0] == f"ok: {other}"
    help_text = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "check-config", "--help"], capture_output=True, text=True
    ).stdout
    assert "FLYWHEEL_CONFIG" in help_text and "./config/flywheel.yaml in the current" in " ".join(help_text.split())


def test_a_broken_workload_does_not_break_the_dag_module(tmp_path: Path) -> None:
    """The same NIM twice in one workload made the DAG module fail to import (ParamValidationError): now that
    workload is reported as broken (the flywheel_config_errors import error) and the others keep their DAGs."""
    from flywheel.airflow.dag_factory import build_all, load_for_dags

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(changed(_set(("workloads", 0, "nims"), [SMALL, SMALL]))))
    cfg, broken, _ = load_for_dags(str(path))
    assert cfg is not None and [w.workload_id for w in cfg.workloads] == ["news_classifier", "support_answers"]
    assert broken == [
        f"workload 'customer_service' (workloads[0].nims[1]: duplicate '{SMALL}' (first at workloads[0].nims[0]))"
    ]
    assert sorted(build_all(str(path))) == ["flywheel_news_classifier", "flywheel_support_answers"]


def test_every_configured_default_passes_its_param() -> None:
    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    for w in cfg.workloads:
        for name, spec in param_specs(cfg, w).items():
            schema = {k: v for k, v in spec.items() if k != "default"}
            assert param_problem(name, spec["default"], schema) is None, name


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("eval_size", 10.0, "eval_size: 10.0 must be integer"),
        ("eval_size", 1e30, "eval_size: 1e+30 must be integer"),
        ("eval_size", 10**6, "eval_size: 1000000 must be ≤ 100000"),
        ("eval_size", True, "eval_size: True must be integer"),
        ("random_seed", -1, "random_seed: -1 must be ≥ 0"),
        ("limit", 2.0, "limit: 2.0 must be null or integer"),
        ("nims", [SMALL, SMALL], "has repeated items"),
        ("val_ratio", 1.5, "val_ratio: 1.5 must be < 1"),
    ],
)
def test_params_refuse_what_makes_no_sense(name: str, value: Any, expected: str) -> None:
    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    spec = param_specs(cfg, cfg.workloads[0])[name]
    problem = param_problem(name, value, {k: v for k, v in spec.items() if k != "default"})
    assert problem is not None and expected in problem, problem


def test_a_huge_value_is_quoted_by_a_short_prefix() -> None:
    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    spec = {k: v for k, v in param_specs(cfg, cfg.workloads[0])["since"].items() if k != "default"}
    problem = param_problem("since", "9" * 2**20, spec)
    assert problem is not None and len(problem) < 120 and "(1048578 chars)" in problem, problem


def test_integers_are_refused_as_floats_by_the_airflow_param_itself() -> None:
    """The draft-04 schema is what makes Airflow's own validation refuse 10.0 (from draft 6 on it is an int)."""
    from airflow.sdk.definitions.param import ParamsDict

    from flywheel.airflow.run_settings import params_for

    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    for value in (10.0, 1e30, 10**9):
        params = ParamsDict(params_for(cfg, cfg.workloads[0]))
        with pytest.raises(Exception, match="Invalid input for param eval_size"):
            params["eval_size"] = value
    params = ParamsDict(params_for(cfg, cfg.workloads[0]))
    params["eval_size"] = 10
    assert params["eval_size"] == 10


def test_merge_keys_may_be_overridden_without_counting_as_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "platform: {gpu_budget: 2}\nworkloads: [{workload_id: w}]\nnims:\n  - &small {model_name: a/b, gpus: 1}\n"
        "  - <<: *small\n    model_name: c/d\n    gpus: 2\n"
    )
    assert [n.gpus for n in load_config(path).nims] == [1, 2]


def test_load_config_raises_config_error_not_a_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == ["invalid YAML: duplicate key 'a' at line 2 (first at line 1)"]


def test_conf_problem_is_short_and_agrees_with_the_params() -> None:
    from airflow.sdk.definitions.param import ParamsDict

    from flywheel.airflow.run_settings import params_for
    from flywheel.params import conf_problem

    cfg = load_config(ROOT / "config" / "flywheel.yaml")
    params = params_for(cfg, cfg.workloads[0])
    schemas = {name: p.schema for name, p in params.items()}
    for conf in ({"since": "9" * 2**20}, {"eval_size": "1" * 2**20}, {"eval_size": 10.0}, {"nims": []}):
        problem = conf_problem(conf, schemas)
        assert problem is not None and len(problem) < 160, problem
        name = next(iter(conf))
        assert problem.startswith(f"Invalid input for param {name}: ")
        with pytest.raises(Exception, match=f"Invalid input for param {name}"):
            ParamsDict(params_for(cfg, cfg.workloads[0]))[name] = conf[name]
    assert conf_problem({"eval_size": 20, "since": "2026-01-01T00:00:00Z", "other": 1}, schemas) is None


def test_a_param_problem_found_after_other_broken_workloads_are_dropped(tmp_path: Path) -> None:
    """Workload 0 has a field error; workload 1's only problem shows once 0 is out (the Params check needs a
    valid config): both are reported as broken, by their index in the file, and no DAG import fails."""
    from flywheel import params
    from flywheel.airflow.dag_factory import load_for_dags

    raw = changed(_set(("workloads", 0, "schedule"), 5))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    real = params.param_specs

    def stricter(cfg: Any, w: Any) -> dict[str, dict[str, Any]]:
        # the config's bounds equal the Params', so no real config reaches this path: a stricter Param stands
        # in for one (a mock, for a fault that cannot be provoked otherwise)
        specs = real(cfg, w)
        if w.workload_id == "news_classifier":
            specs["eval_size"] = {**specs["eval_size"], "maximum": 1}
        return specs

    mp = pytest.MonkeyPatch()
    mp.setattr(params, "param_specs", stricter)
    try:
        cfg, broken, _ = load_for_dags(str(path))
    finally:
        mp.undo()
    assert cfg is not None and [w.workload_id for w in cfg.workloads] == ["support_answers"]
    assert broken[0] == "workload 'customer_service' (workloads[0].schedule: must be a string)"
    assert broken[1].startswith("workload 'news_classifier' (workloads[1] (trigger param) eval_size: ")


def test_check_config_refuses_a_nim_that_needs_more_gpus_than_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    raw = changed(_set(("nims", 1, "gpus"), 2))
    path.write_text(yaml.safe_dump(raw))
    out = check_config(path)
    assert out.returncode == 1
    assert out.stdout.strip() == (
        f"{path}: nims[1].gpus: 2 GPUs is more than platform.gpu_budget (1); it could never be deployed"
    )
    raw["platform"] = {**(raw.get("platform") or {}), "gpu_budget": 2}
    path.write_text(yaml.safe_dump(raw))
    ok = check_config(path)
    assert ok.returncode == 0 and "GPU budget: 2" in ok.stdout, ok.stdout


def test_pools_command_sizes_the_gpu_pool_from_the_budget(tmp_path: Path) -> None:
    path, out_file = tmp_path / "two.yaml", tmp_path / "pools.json"
    raw = changed(_set(("platform", "gpu_budget"), 2))
    path.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "flywheel.cli", "pools", "--config", str(path), "--write", str(out_file)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    pools = json.loads(out_file.read_text())
    assert pools["flywheel_gpu"]["slots"] == 2 and pools["flywheel_gpu"]["include_deferred"] is False
    shipped = json.loads((ROOT / "config" / "pools.json").read_text())
    assert shipped["flywheel_gpu"]["slots"] == 1  # the shipped file is the default budget's
