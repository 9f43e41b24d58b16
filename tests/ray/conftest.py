"""What the Ray tests share: a project folder holding the trial script, run from there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ray.cluster import ray_env
from tests.ray.sweeps import write_script


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working directory with tests/ray/sweeps.py's script in it; Ray without a token,
    as the tests' cluster runs (a Ray instance a sweep starts itself reads it from here)."""
    monkeypatch.chdir(tmp_path)
    for key, value in ray_env().items():
        if key.startswith("RAY_"):
            monkeypatch.setenv(key, value)
    write_script(tmp_path)
    return tmp_path
