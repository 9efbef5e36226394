"""The example configs under configs/ load as Settings (a renamed field would break them)."""

from pathlib import Path

import pytest

from freehold.config import load_settings

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_there_are_example_configs():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_loads(path, monkeypatch):
    for var in ("FREEHOLD_PORT", "FREEHOLD_HOST", "FREEHOLD_MODEL", "FREEHOLD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings({}, path)
    assert settings.model or settings.models
