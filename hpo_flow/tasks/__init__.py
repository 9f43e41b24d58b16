"""The hpo-sweep flow's tasks, for a team that composes a pipeline of its own (docs/pipeline.md).

In the order the flow (hpo_flow.flows.hpo_sweep) runs them:

- `load_config_task(path, overrides)`: read and validate config.yaml -> `HpoConfig`
- `choose_adapter(config, backend)`: the backend's adapter, once it has planned the sweep
- `choose_sweep_task(config, path, backend, new_sweep, attach)`: attach or start the next generation
  -> the config of that sweep and the `Decision` that says why
- `submit_sweep(adapter, config)` -> `SweepRef`; `wait_for_sweep(adapter, ref, config)` -> `SweepState`
- `forget_sweep()`: the sweep has ended; a cancel of the flow run no longer needs to stop it
- `SweepResult.of(config, ref, state)`: the best trial, by the one rule (none for a failed sweep)
- `record_sweep_task(config, result)`: every trial in MLflow, the result's best marked -> the parent run's id
- `register_best_task(config, result, parent_run_id)`: the model version, and the alias if it is better
- `write_back_task(path, values, dry_run, started_from)`: the winning values into config.yaml, leaving
  alone what the user changed since `started_from` (`tuned_values` at the start) -> `WriteBack`
- `log_config_diff_task(parent_run_id, diff, tracking_uri)`, `publish_results(config, result, path)`
- `mark_recorded_task(tracking_uri, parent_run_id, promotion)`: closes the sweep's record, so the
  next run starts a new generation instead of attaching to this one

Each name imports its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpo_flow._lazy import lazy_exports

if TYPE_CHECKING:
    from hpo_flow.tasks.artifacts import publish_results
    from hpo_flow.tasks.config import load_config_task
    from hpo_flow.tasks.lineage import choose_sweep_task, mark_recorded_task
    from hpo_flow.tasks.result import SweepResult
    from hpo_flow.tasks.sweep import choose_adapter, forget_sweep, submit_sweep, wait_for_sweep
    from hpo_flow.tasks.tracking import log_config_diff_task, record_sweep_task, register_best_task
    from hpo_flow.tasks.writeback import write_back_task

_EXPORTS = {
    "load_config_task": "hpo_flow.tasks.config",
    "choose_adapter": "hpo_flow.tasks.sweep",
    "choose_sweep_task": "hpo_flow.tasks.lineage",
    "submit_sweep": "hpo_flow.tasks.sweep",
    "wait_for_sweep": "hpo_flow.tasks.sweep",
    "forget_sweep": "hpo_flow.tasks.sweep",
    "record_sweep_task": "hpo_flow.tasks.tracking",
    "SweepResult": "hpo_flow.tasks.result",
    "register_best_task": "hpo_flow.tasks.tracking",
    "write_back_task": "hpo_flow.tasks.writeback",
    "log_config_diff_task": "hpo_flow.tasks.tracking",
    "publish_results": "hpo_flow.tasks.artifacts",
    "mark_recorded_task": "hpo_flow.tasks.lineage",
}

__all__ = [
    "SweepResult",
    "choose_adapter",
    "choose_sweep_task",
    "forget_sweep",
    "load_config_task",
    "log_config_diff_task",
    "mark_recorded_task",
    "publish_results",
    "record_sweep_task",
    "register_best_task",
    "submit_sweep",
    "wait_for_sweep",
    "write_back_task",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
