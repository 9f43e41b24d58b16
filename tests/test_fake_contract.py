"""The fake adapter passes the same contract as every real one (so flow tests on it mean something)."""

from __future__ import annotations

import pytest

from adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.fakes import FakeAdapter
from tests.helpers import make_config

pytestmark = pytest.mark.unit


class TestFakeAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> FakeAdapter:
        return FakeAdapter()

    @pytest.fixture
    def spec(self) -> HpoConfig:
        return make_config()

    @pytest.fixture
    def finish(self, adapter: FakeAdapter):
        def drive(ref):
            while not adapter.poll(ref).status.is_terminal:
                pass

        return drive
