"""Test stacks: the product's LocalStack pointed at this checkout's dags/ and pools, with a test config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flywheel.localstack.stack import LocalStack

ROOT = Path(__file__).resolve().parents[3]


def make_stack(workdir: Path, config: dict[str, Any], **kw: Any) -> LocalStack:
    config_path = workdir / "flywheel.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return LocalStack(workdir=workdir, config_path=config_path, dags_folder=ROOT / "dags",
                      pools_file=ROOT / "config" / "pools.json", **kw)
