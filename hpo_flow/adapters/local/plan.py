"""`plan` for the local backend: what a submit would run, as plain data; no process is started.

The first trial's command is exact when `tuning.random_seed` is set: its values come from a
throwaway in-memory study with the same sampler, which is what a fresh sweep asks first. Without
a seed the real first trial is random, so the plan shows the same kind of command with values
drawn under seed 0 and says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import PlanError, Problem
from hpo_flow.adapters.local.process import trial_command, trial_variables
from hpo_flow.adapters.local.slots import slots_for
from hpo_flow.adapters.local.state import SweepPaths, trial_id
from hpo_flow.adapters.local.storage import direction, storage_target
from hpo_flow.adapters.redact import MASK, is_secret_key, redact
from hpo_flow.adapters.spec import HpoConfig


def build_plan(
    spec: HpoConfig, cwd: Path | None = None, problems: list[Problem] | None = None, backend: str = "local"
) -> dict[str, Any]:
    import optuna

    from hpo_flow.adapters.local import search
    from hpo_flow.adapters.local.warm import warm_start_note, warm_start_problems

    if problems is None:
        problems = search.local_problems(spec) + warm_start_problems(spec)
    if problems:
        raise PlanError(backend, problems)
    base = cwd or Path.cwd()
    paths = SweepPaths.for_spec(spec, base)
    slots = slots_for(spec.backends.local, spec.tuning.max_parallel_jobs)
    tuning = spec.tuning
    seeded = tuning.random_seed is not None
    sample_spec = spec if seeded else spec.model_copy(update={"tuning": tuning.model_copy(update={"random_seed": 0})})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scratch = optuna.create_study(sampler=search.first_trial_sampler(sample_spec), direction=direction(spec))  # type: ignore[arg-type]
    params = search.suggest_params(scratch.ask(), sample_spec)
    model_dir = paths.trial_dir(0) / "model"
    criteria = tuning.completion_criteria
    return {
        "backend": "local",
        "sweep_name": spec.sweep_name(),
        "sweep_dir": str(paths.root),
        "storage": storage_target(spec, paths.root).describe(),
        "slots": [slot.label for slot in slots],
        "parallelism": len(slots),
        "search": search.describe_search(spec),
        **({"warm_start": note} if (note := warm_start_note(spec)) else {}),
        "objective": {"metric": tuning.objective_metric, "type": tuning.objective_type.value},
        "limits": {
            "max_jobs": tuning.max_jobs,
            "max_parallel_jobs": tuning.max_parallel_jobs,
            "trial_timeout_seconds": tuning.trial_timeout_seconds,
            "max_runtime_seconds": tuning.max_runtime_seconds,
            "max_failed_trials": tuning.max_failed_trials,
            "completion_criteria": criteria.model_dump(mode="json") if criteria else None,
            "kill_grace_seconds": spec.backends.local.kill_grace_seconds,
        },
        "first_trial": {
            "id": trial_id(0),
            "command": _redacted_command(trial_command(spec, params)),
            "params": redact(params),
            "params_are": "the first trial's" if seeded else "an example: without tuning.random_seed they are random",
            "cwd": str(paths.trial_dir(0) / "code"),
            "cwd_holds": f"a link to every entry of {(base / spec.training.source_dir).resolve()}",
            # Added to the runner's own environment, exactly as the trial is launched (process.trial_variables).
            "environment": {
                k: (MASK if is_secret_key(k) else redact(v))
                for k, v in trial_variables(
                    spec, trial_id(0), model_dir, slots[0].cuda_visible_devices, os.environ, params
                ).items()
            },
            **({"mlflow_run": run} if (run := _trial_run_note(spec)) else {}),
            "log": str(paths.trial_dir(0) / "output.log"),
        },
    }


def _trial_run_note(spec: HpoConfig) -> str | None:
    """What the trial's own MLflow run will be (it is opened when the trial starts, not by plan)."""
    from hpo_flow.adapters.trial_tracking import trial_tracking

    if trial_tracking(spec) is None:
        return None
    read = (
        ""
        if spec.training.metric(spec.tuning.objective_metric)
        else f"; {spec.tuning.objective_metric} is read from it"
    )
    return (
        f"a run of its own in experiment {spec.experiment_name} (MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and "
        f"MLFLOW_EXPERIMENT_ID set when it starts: mlflow.log_metric and autolog land there){read}"
    )


def _redacted_command(argv: list[str]) -> list[str]:
    """Mask the value after `--password`-like flags: a plan is printed and may be shared."""
    shown = list(argv)
    for i in range(len(shown) - 1):
        if shown[i].startswith("--") and is_secret_key(shown[i][2:]):
            shown[i + 1] = MASK
    return [redact(part) for part in shown]
