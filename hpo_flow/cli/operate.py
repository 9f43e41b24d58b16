"""`hpo-flow status`, `list`, `cancel` and `logs`: operate a sweep from the terminal, on any backend.

A sweep is found in the MLflow tracking store, where its parent run carries its `SweepRef` (the
flow records it at the first poll), and is then reached through the adapter port like the flow
reaches it: nothing here knows one backend from another.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.cli.options import DEFAULT_CONFIG, add_command, add_overrides, add_tracking_uri

if TYPE_CHECKING:
    from hpo_flow.adapters.port import SweepState
    from hpo_flow.adapters.spec import HpoConfig
    from hpo_flow.tasks.tracking.sweeps import KnownSweep


def add_commands(sub: Any) -> None:
    """Add the four commands to the `hpo-flow` parser's subcommands."""

    def command(name: str, func: Any, help: str, details: str) -> argparse.ArgumentParser:
        parser = add_command(sub, name, func, help, details)
        add_tracking_uri(parser)
        return parser

    target_help = "a config.yaml (its newest sweep) or a sweep name (default: ./config.yaml)"
    status = command(
        "status",
        cmd_status,
        "show a sweep's state, trials, best so far and where to look",
        "Asks the sweep's backend for its state now. With --set, the sweep `hpo-flow run --set` runs.\n\n"
        "example: hpo-flow status   |   hpo-flow status my-sweep-1a2b3c4d\n"
        "         hpo-flow status config.yaml --set tuning.max_jobs=4",
    )
    status.add_argument("target", nargs="?", help=target_help)
    add_overrides(status)
    command(
        "list",
        cmd_list,
        "list the sweeps recorded in the tracking store, newest first",
        "Reads MLflow only; `hpo-flow status NAME` asks a sweep's backend for its state now.",
    ).add_argument("config", nargs="?", help="config.yaml whose tracking store to read (default: ./config.yaml)")
    cancel = command(
        "cancel",
        cmd_cancel,
        "stop a sweep and every trial it runs; safe to repeat",
        "Finished trials stay in MLflow. The flow polling the sweep sees it end as STOPPED.\n\n"
        "example: hpo-flow cancel config.yaml",
    )
    cancel.add_argument("target", help="a config.yaml (its newest sweep) or a sweep name")
    logs = command(
        "logs",
        cmd_logs,
        "print the log of one trial of a sweep",
        "The trial's own output where the backend keeps it (the local runner), else the copy recorded\n"
        "in MLflow when it ended.\n\nexample: hpo-flow logs my-sweep-1a2b3c4d trial-3",
    )
    logs.add_argument("target", help="a config.yaml (its newest sweep) or a sweep name")
    logs.add_argument("trial", help="trial id, as `hpo-flow status` lists them")


def cmd_status(args: argparse.Namespace) -> int:
    from hpo_flow.adapters import get_adapter
    from hpo_flow.tasks.progress import progress_line
    from hpo_flow.tasks.sweep import describe_trial

    sweep, config, uri = resolve(args.target, args.tracking_uri, args.overrides)
    state = get_adapter(sweep.ref.backend).poll(sweep.ref)
    total = config.tuning.max_jobs if config else len(state.trials)
    objective, metric = _objective(sweep, config)
    elapsed = _elapsed(state)
    print(f"Sweep {sweep.ref.name} on {sweep.ref.backend}: {state.status.value}")
    print(f"  trials    {progress_line(state, total, objective, metric, elapsed)}")
    if state.message:
        print(f"  message   {state.message}")
    for trial in state.trials:
        print(f"    {describe_trial(trial, metric)}")
    _where(sweep, uri)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from hpo_flow.tasks.tracking.sweeps import known_sweeps

    uri = args.tracking_uri or _config_uri(args.config)
    sweeps = known_sweeps(uri)
    if not sweeps:
        print(f"no sweeps recorded in {_shown(uri)}")
        return 0
    rows = [("SWEEP", "BACKEND", "STATUS", "TRIALS", "BEST", "STARTED", "EXPERIMENT")]
    for s in sweeps:
        started = s.started.strftime("%Y-%m-%d %H:%M") if s.started else "?"
        rows.append((s.ref.name, s.ref.backend, s.status, s.trials, s.best_trial or "-", started, s.experiment))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from hpo_flow.adapters import get_adapter

    sweep, _, _ = resolve(args.target, args.tracking_uri)
    adapter = get_adapter(sweep.ref.backend)
    adapter.cancel(sweep.ref)
    state = adapter.poll(sweep.ref)
    done = len(state.finished_trials)
    print(f"cancelled sweep {sweep.ref.name} on {sweep.ref.backend}: now {state.status.value}, {done} trials finished")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from hpo_flow.adapters import get_adapter
    from hpo_flow.adapters.port import ReadsTrialLogs
    from hpo_flow.adapters.redact import redact_text
    from hpo_flow.tasks.tracking.sweeps import trial_log_artifacts

    sweep, _, uri = resolve(args.target, args.tracking_uri)
    state = get_adapter(sweep.ref.backend).poll(sweep.ref)
    trial = next((t for t in state.trials if t.id == args.trial), None)
    if trial is None:
        ids = ", ".join(t.id for t in state.trials) or "none yet"
        raise HpoFlowError(f"sweep {sweep.ref.name} has no trial {args.trial!r}; its trials: {ids}")
    adapter = get_adapter(sweep.ref.backend)
    kept = adapter.trial_log(sweep.ref, trial) if isinstance(adapter, ReadsTrialLogs) else None
    files = [kept] if kept is not None else [Path(p) for p in trial_log_artifacts(uri, sweep, trial.id)]
    if not files:
        where = f"; the backend shows it at {sweep.ref.url}" if sweep.ref.url else ""
        raise HpoFlowError(f"no log of trial {trial.id} is kept here yet ({trial.status.value}){where}")
    for path in files:
        with path.open("r", encoding="utf-8", errors="replace") as text:
            for line in text:
                sys.stdout.write(redact_text(line))
    return 0


# --------------------------------------------------------------------------- finding the sweep


def resolve(
    target: str | None, tracking_uri: str | None, overrides: list[str] | None = None
) -> tuple[KnownSweep, HpoConfig | None, str | None]:
    """The sweep a command means: a config's newest sweep (with `overrides`, the config `run --set`
    runs), or the newest sweep of that name."""
    from hpo_flow.adapters.spec import load_config
    from hpo_flow.tasks.tracking.sweeps import find_sweep

    if target is None or target.endswith((".yaml", ".yml")) or Path(target).is_file():
        from hpo_flow.adapters.lifecycle import identify

        path = target or DEFAULT_CONFIG
        config = identify(load_config(path, overrides), path)  # recorded under the hash of config and code
        uri: str | None = tracking_uri or config.mlflow.tracking_uri
        return find_sweep(uri, config_hash=config.config_hash()), config, uri
    if overrides:
        raise HpoFlowError(f"--set changes a config, and {target!r} is a sweep's name; give the config.yaml instead")
    uri = tracking_uri or _config_uri(None)
    return find_sweep(uri, name=target), None, uri


def _config_uri(path: str | None) -> str | None:
    """The tracking store of the given config, or of ./config.yaml, or MLflow's own default."""
    from hpo_flow.adapters.spec import load_config

    if path is None and not Path(DEFAULT_CONFIG).is_file():
        return None
    return load_config(path or DEFAULT_CONFIG).mlflow.tracking_uri


def _objective(sweep: KnownSweep, config: HpoConfig | None) -> tuple[Any, str]:
    from hpo_flow.adapters.spec import Objective

    if config is not None:
        return config.objective, config.tuning.objective_metric
    return Objective(sweep.objective_type), sweep.objective_metric


def _elapsed(state: SweepState) -> float:
    starts = [t.started_at for t in state.trials if t.started_at]
    if not starts:
        return 0.0
    ends = [t.ended_at for t in state.trials if t.ended_at]
    last = max(ends) if state.status.is_terminal and ends else datetime.now(UTC)
    return max(0.0, (last - min(starts)).total_seconds())


def _where(sweep: KnownSweep, uri: str | None) -> None:
    from hpo_flow.cli.run import mlflow_ui_hint

    print("  where     MLflow " + mlflow_ui_hint(uri or "", sweep.experiment))
    print(f"            experiment {sweep.experiment!r}, run {sweep.parent_run_id}")
    if sweep.ref.url:
        print(f"            {sweep.ref.backend}: {sweep.ref.url}")
    if sweep.ref.workdir:
        print(f"            sweep directory {sweep.ref.workdir} (optuna-dashboard: see docs/operate.md)")


def _shown(uri: str | None) -> str:
    from hpo_flow.adapters.redact import redact_text

    return redact_text(uri) if uri else "the MLflow default tracking store"
