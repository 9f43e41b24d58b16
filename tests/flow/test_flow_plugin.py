"""The flow contract on a backend of another distribution's (tests/plugin_dist: hpo-flow-inmemory),
found through its entry point alone: the flow tunes, records, registers and writes back on it as on
ours (its adapter contract: tests/test_plugin_backend.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flow.flow_contract import FlowContract
from tests.helpers import PluginInstalled, config_dict

pytestmark = pytest.mark.integration


class TestFlowOnAnInstalledBackend(FlowContract):
    @pytest.fixture(autouse=True)
    def _installed(self) -> Iterator[None]:
        with PluginInstalled():
            yield

    @pytest.fixture
    def backend(self) -> str:
        return "inmemory"

    @pytest.fixture
    def config_data(self, tmp_path: Path) -> dict[str, Any]:
        return config_dict(
            {
                "tuning.backend": "inmemory",
                "tuning.max_jobs": 4,
                "tuning.poll_interval_seconds": 0.05,
                "backends.inmemory": {"per_poll": 1, "model_dir": str(tmp_path / "models")},
            }
        )
