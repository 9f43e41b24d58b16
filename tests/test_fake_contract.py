"""The fake adapter passes the same contract as every real one (so flow tests on it mean something)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.registry import registered
from hpo_flow.adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.fakes import FakeAdapter
from tests.helpers import in_process_backend, make_config

pytestmark = pytest.mark.unit


class TestFakeAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self, tmp_path: Path) -> Iterator[FakeAdapter]:
        fake = FakeAdapter(model_dir=tmp_path / "models")
        with registered(in_process_backend("fake", fake)):
            yield fake

    @pytest.fixture
    def spec(self) -> HpoConfig:
        return make_config()

    @pytest.fixture
    def finish(self, adapter: FakeAdapter):
        def drive(ref):
            while not adapter.poll(ref).status.is_terminal:
                pass

        return drive

    @pytest.fixture
    def faulty(self, adapter: FakeAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]):
        def run() -> SweepRef:
            adapter.fail_every, adapter.prune_every = 3, 2  # t0 completes, t1 and t3 are pruned, t2 fails
            ref = adapter.submit(spec)
            finish(ref)
            return ref

        return run

    @pytest.fixture
    def unknown_ref(self) -> SweepRef:
        return SweepRef(backend="fake", name="no-such-sweep", cloud_id="fake://no-such-sweep")

    @pytest.fixture
    def unsupported(self) -> tuple[HpoConfig, list[str]]:
        config = make_config(
            {
                "tuning.hyperparameter_ranges.noise": {"type": "normal", "mu": 0, "sigma": 1},
                "tuning.warm_start": {"parents": ["old-sweep"]},
            }
        )
        return config, ["tuning.hyperparameter_ranges.noise", "tuning.warm_start"]
