"""Secret `--set` values are sealed before they become a flow's parameters (stored in Prefect's
database): the handle, never the value, leaves the process; a handle from elsewhere is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpo_flow.adapters.errors import ConfigError
from hpo_flow.adapters.spec import apply_overrides, sealed

pytestmark = pytest.mark.unit


def test_secret_values_are_sealed_and_the_rest_left_as_given() -> None:
    given = [
        "training.environment.HF_TOKEN=hf-abc123",
        "backends.local.storage=postgresql://u:pw-9911@db/hpo",
        "backends.local.workdir=/data/hpo",
        "tuning.max_jobs=4",
    ]
    shown = sealed.seal(given)
    assert shown[2:] == given[2:]
    assert all(
        s.startswith(g.split("=")[0] + "=<secret kept by hpo-flow run: ")
        for s, g in zip(shown[:2], given[:2], strict=True)
    )
    assert "abc123" not in str(shown) and "pw-9911" not in str(shown)
    applied = apply_overrides({}, shown)
    assert applied["training"]["environment"]["HF_TOKEN"] == "hf-abc123"
    assert applied["backends"]["local"]["storage"] == "postgresql://u:pw-9911@db/hpo"
    assert applied["tuning"]["max_jobs"] == 4


def test_a_handle_from_another_process_is_refused_with_the_fix() -> None:
    code = "from hpo_flow.adapters.spec import sealed; print(sealed.seal(['a.api_token=s3cret-77'])[0])"
    elsewhere = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    with pytest.raises(ConfigError) as refused:
        apply_overrides({}, [elsewhere])
    (problem,) = refused.value.problems
    assert problem.path == "--set a.api_token" and "give the value itself" in problem.message
