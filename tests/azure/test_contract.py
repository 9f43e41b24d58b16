"""The shared adapter contract, run against the served Azure ML workspace."""

from __future__ import annotations

import pytest

from tests.contract import AdapterContract

# azure-ai-ml 1.23 passes marshmallow's deprecated `context` on every schema it builds: its noise, not ours
pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning")]


class TestAzureContract(AdapterContract):
    pass
