"""Record a sweep in MLflow for review, and register its best model.

- `recording`: the parent run per sweep and a child run per trial, plots, the config diff.
- `descriptions`: what a reviewer reads on the parent run (ranges, policy, note, config snapshot).
- `registry`: the best trial's model version and the config's alias.
- `store`: MLflow plumbing: tag names, client, look-ups, value shaping.
"""

from hpo_flow.tasks.tracking.descriptions import config_snapshot, describe_early_stopping, sweep_params
from hpo_flow.tasks.tracking.recording import (
    log_config_diff,
    log_config_diff_task,
    record_result,
    record_sweep,
    record_sweep_task,
)
from hpo_flow.tasks.tracking.registry import RegisteredModel, register_best, register_best_task

__all__ = [
    "RegisteredModel",
    "config_snapshot",
    "describe_early_stopping",
    "log_config_diff",
    "log_config_diff_task",
    "record_result",
    "record_sweep",
    "record_sweep_task",
    "register_best",
    "register_best_task",
    "sweep_params",
]
