"""hpo-flow: hyperparameter sweeps from one config.yaml, on SageMaker, Azure ML or local GPUs.

    from hpo_flow import hpo_sweep   # the flow: run it, or call it inside your own @flow as a subflow
    from hpo_flow import tasks       # its tasks, for a pipeline of your own (docs/pipeline.md)

Importing this package imports nothing but the standard library: the names below load Prefect,
MLflow and the rest on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpo_flow._lazy import lazy_exports

if TYPE_CHECKING:
    from hpo_flow import tasks
    from hpo_flow.adapters.errors import HpoFlowError
    from hpo_flow.adapters.spec import HpoConfig
    from hpo_flow.flows.hpo_sweep import SweepFailedError, SweepOutcome, hpo_sweep

__version__ = "0.1.0"

__all__ = ["HpoConfig", "HpoFlowError", "SweepFailedError", "SweepOutcome", "__version__", "hpo_sweep", "tasks"]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "hpo_sweep": "hpo_flow.flows.hpo_sweep",
        "SweepOutcome": "hpo_flow.flows.hpo_sweep",
        "SweepFailedError": "hpo_flow.flows.hpo_sweep",
        "HpoConfig": "hpo_flow.adapters.spec",
        "HpoFlowError": "hpo_flow.adapters.errors",
        "tasks": "hpo_flow.tasks",
    },
)
