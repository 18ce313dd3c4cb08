"""``FLYWHEEL_GPUS=N make demo``: the demo's budget, pool and emulator GPUs agree (scripts/demo.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from flywheel.config import load_config
from flywheel.emulator.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_under_test", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "DEMO", tmp_path)  # never the checkout's .demo
    return module


@pytest.mark.parametrize(("env", "gpus"), [(None, 1), ("3", 3), (" 2 ", 2), ("0", None), ("two", None), ("-1", None)])
def test_flywheel_gpus_is_a_whole_number_default_one(demo, monkeypatch, env, gpus):
    if env is None:
        monkeypatch.delenv("FLYWHEEL_GPUS", raising=False)
    else:
        monkeypatch.setenv("FLYWHEEL_GPUS", env)
    assert demo.demo_gpus() == gpus


def test_budget_pool_and_emulator_get_the_same_gpus(demo, tmp_path):
    config_path = tmp_path / "flywheel.yaml"
    config_path.write_text(yaml.safe_dump(demo.demo_config(tmp_path / "logs.jsonl", "nmp", 3)))
    assert load_config(config_path).platform.gpu_budget == 3  # check-config accepts it
    pools, args = demo.gpu_setup(config_path, 3)
    assert json.loads(pools.read_text())["flywheel_gpu"]["slots"] == 3
    assert args[args.index("--gpus") + 1] == "3"
    # what `flywheel emulator --config F --gpus 3` starts with
    settings = load_settings(args[args.index("--config") + 1], gpus=int(args[args.index("--gpus") + 1]))
    assert (settings.gpus, settings.customization_uses_gpus) == (3, False)


def test_the_loops_served_models_are_hosted_outside_the_gpu_pool(demo, tmp_path):
    config_path = tmp_path / "flywheel.yaml"
    config_path.write_text(yaml.safe_dump(demo.demo_config(tmp_path / "logs.jsonl", "nmp", 2)))
    _, args = demo.gpu_setup(config_path, 2)
    demo.write_emulator_settings(hosted=["meta/llama-3.1-8b-instruct", "meta/llama-3.2-1b-instruct"])
    settings = load_settings(args[args.index("--config") + 1], gpus=int(args[args.index("--gpus") + 1]))
    assert settings.gpus == 2 and settings.hosted_models == ["meta/llama-3.1-8b-instruct", "meta/llama-3.2-1b-instruct"]
