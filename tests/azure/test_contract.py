"""The shared adapter contract, run against the served Azure ML workspace."""

from __future__ import annotations

import pytest

from tests.contract import AdapterContract

pytestmark = pytest.mark.unit


class TestAzureContract(AdapterContract):
    pass
