"""docs/configuration.md is the configuration reference generated from the pydantic models."""

from __future__ import annotations

from pathlib import Path

from flywheel.config import FlywheelConfig
from flywheel.config_reference import END, START, render

ROOT = Path(__file__).resolve().parents[3]


def test_readme_reference_matches_models():
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == render(), (
        "docs/configuration.md is stale: run `python -m flywheel.config_reference docs/configuration.md`"
    )


def test_reference_names_every_top_level_section_and_field():
    ref = render()
    for name in FlywheelConfig.model_fields:
        assert f"| `{name}` |" in ref
    assert "#### `nims[]`" in ref and "| `customization_enabled` |" in ref
