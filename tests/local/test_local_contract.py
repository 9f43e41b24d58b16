"""The local adapter passes the contract every adapter passes, with real runner and trial processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.spec import HpoConfig
from tests.contract import AdapterContract, with_overrides
from tests.local.sweep_helpers import finish as wait_until_finished
from tests.local.sweep_helpers import local_config, write_trial_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class TestLocalAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> LocalAdapter:
        return LocalAdapter()

    @pytest.fixture
    def backend_keys(self) -> dict[str, object]:
        """Config keys of a backend that reuses the local runner (tests/ray/test_ray_contract.py)."""
        return {}

    @pytest.fixture
    def spec(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_keys: dict[str, object]) -> HpoConfig:
        monkeypatch.chdir(tmp_path)
        write_trial_script(tmp_path)
        return local_config(tmp_path, {"tuning.max_jobs": 3, **backend_keys})

    @pytest.fixture
    def finish(self, adapter: LocalAdapter) -> Iterator[Callable[[SweepRef], None]]:
        started: list[SweepRef] = []

        def drive(ref: SweepRef) -> None:
            started.append(ref)
            wait_until_finished(adapter, ref)

        yield drive
        for ref in started:
            adapter.cancel(ref)

    @pytest.fixture
    def faulty(
        self,
        adapter: LocalAdapter,
        spec: HpoConfig,
        tmp_path: Path,
        finish: Callable[[SweepRef], None],
        backend_keys: dict[str, object],
    ):
        def run() -> SweepRef:
            spec = local_config(
                tmp_path,
                {
                    "tuning.max_jobs": 3,
                    "tuning.max_parallel_jobs": 1,
                    "tuning.early_stopping": {
                        "policy": "truncation",
                        "truncation_percentage": 50,
                        "delay_evaluation": 2,
                    },
                    "training.hyperparameters": {"steps": 20, "sleep": 0.02, "mode": "mixed"},
                    **backend_keys,
                },
            )
            ref = adapter.submit(spec)
            finish(ref)
            return ref

        return run

    @pytest.fixture
    def long_spec(self, spec: HpoConfig, tmp_path: Path, backend_keys: dict[str, object]) -> HpoConfig:
        hyperparameters = {"steps": 20, "sleep": 0.5}
        return local_config(
            tmp_path, {"tuning.max_jobs": 3, "training.hyperparameters": hyperparameters, **backend_keys}
        )

    @pytest.fixture
    def advance(self) -> Callable[[SweepRef], None]:
        return lambda ref: time.sleep(0.2)

    @pytest.fixture
    def unknown_ref(self, tmp_path: Path) -> SweepRef:
        return SweepRef(backend="local", name="no-such-sweep", workdir=str(tmp_path / ".hpo" / "no-such-sweep"))

    @pytest.fixture
    def unsupported(self, spec: HpoConfig) -> tuple[HpoConfig, list[str]]:
        config = with_overrides(
            spec,
            {
                "tuning.strategy": "Hyperband",
                "tuning.early_stopping": {"policy": "median"},
                "tuning.warm_start": {"parents": ["sagemaker-job"]},
            },
        )
        return config, ["tuning.early_stopping.policy", "tuning.warm_start"]
