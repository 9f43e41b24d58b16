"""`hpo-flow run`: validate fast, run the hpo-sweep flow, then print where to look.

The config is validated and planned before anything of Prefect's starts, so a typo costs a second,
not the seconds Prefect's temporary server takes to start on a small machine, and a config that
fails (or has tuning disabled) starts no server at all; a config that will run launches it
first thing after, and it boots while MLflow's store is prepared and Prefect is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from hpo_flow.adapters.errors import PlanError
from hpo_flow.cli.options import EXIT_BAD_CONFIG, EXIT_FAILED, EXIT_OK
from hpo_flow.processes import heap

if TYPE_CHECKING:
    from hpo_flow.adapters.registry import BackendInfo
    from hpo_flow.adapters.spec import HpoConfig
    from hpo_flow.flows.hpo_sweep import SweepOutcome
    from hpo_flow.processes.server import EarlyServer


# Set before Prefect or MLflow is imported: both read their settings at import time.
_ENV_DEFAULTS = {
    # Prefect's temporary server needs more than its default 20 s to start on a 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # "Creating initial MLflow database tables..." and the like
    # Prefect's server, a subprocess that writes to our terminal, trips over this pydantic warning.
    "PYTHONWARNINGS": "ignore::UserWarning:pydantic._internal._generate_schema",
}

# Libraries that warn about their own internals; none of it is actionable for a user of hpo-flow.
_QUIET_MODULES = r"(mlflow|pydantic|prefect|alembic|sqlalchemy|optuna|sklearn|google|pkg_resources|setuptools|uvicorn)"
_QUIET_LOGGERS = ("alembic", "mlflow", "optuna", "urllib3", "httpx", "sqlalchemy", "uvicorn")


def run_from_cli(
    config_path: str,
    backend: str | None = None,
    overrides: list[str] | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    new_sweep: bool = False,
    attach: str | None = None,
) -> int:
    """Run the flow for one config; 0 on success, 1 when the sweep failed, 2 on a bad config."""
    out = out or sys.stdout
    _quiet()
    with heap.loading() as load:  # what is imported here lives as long as the process
        from hpo_flow.adapters import registry
        from hpo_flow.adapters.spec import load_config

        config = load_config(config_path, overrides)  # a ConfigError here exits 2 (hpo_flow.cli)
        for warning in config.warnings():
            print(f"warning: {warning}", file=sys.stderr)
        if not config.tuning.enabled:
            print(f"{config_path}: tuning.enabled is false; no sweep was run.", file=out)
            return EXIT_OK
        chosen = registry.get(backend or config.tuning.backend)
        try:
            chosen.create_adapter().plan(config)
        except PlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        from hpo_flow.processes.server import launch_early, stop_session

        # Only a config that will run gets a Prefect server. It takes seconds to boot: it does so
        # while MLflow's store is prepared and Prefect is imported here.
        early = launch_early()
        try:
            _prepare(config, chosen)
            import hpo_flow.flows.hpo_sweep  # noqa: F401  (Prefect and the flow: imported now, kept by heap)

            _no_tracebacks_for_our_errors()
            load.keep()
        except BaseException:
            if early is not None:
                stop_session(early.proc)
            raise
    heap.skip_exit_collection()
    try:
        return _run(early, config_path, backend, overrides, dry_run, out, new_sweep, attach)
    finally:
        if early is not None:
            stop_session(early.proc)


def _prepare(config: HpoConfig, chosen: BackendInfo) -> None:
    from hpo_flow.tasks.lean_mlflow import mlflow_without_plugins, new_sqlite_store_from_template

    if not chosen.needs_mlflow_plugins:
        # This process opens no MLflow URI but the config's: the cloud plugins would import their SDKs.
        mlflow_without_plugins(config.mlflow.tracking_uri)
    new_sqlite_store_from_template(config.mlflow.tracking_uri)
    from hpo_flow.tasks.tracking.live import warm_up

    warm_up(config)


def _run(
    early: EarlyServer | None,
    config_path: str,
    backend: str | None,
    overrides: list[str] | None,
    dry_run: bool,
    out: TextIO,
    new_sweep: bool,
    attach: str | None,
) -> int:
    from hpo_flow.adapters.spec import sealed
    from hpo_flow.flows.hpo_sweep import SweepFailedError, hpo_sweep
    from hpo_flow.processes.server import prefect_api

    with prefect_api(early), _stop_sweeps_on_termination():
        # The outcome is printed before the temporary server stops: that takes seconds nobody waits for.
        try:
            outcome = hpo_sweep(
                config_path=config_path,
                backend=backend,
                overrides=sealed.seal(list(overrides or [])),  # a flow's parameters are stored in Prefect
                dry_run=dry_run,
                new_sweep=new_sweep,
                attach=attach,
            )
        except SweepFailedError as exc:
            print_outcome(exc.outcome, dry_run, out)
            print(f"\nerror: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        print_outcome(outcome, dry_run, out)
        out.flush()
    return EXIT_OK


@contextlib.contextmanager
def _stop_sweeps_on_termination() -> Iterator[None]:
    """SIGTERM or SIGHUP (a `kill`, a closed terminal) ends a plain process without Prefect's crash
    hooks: Prefect re-sends the signal to the handler it found, this one, which stops the sweep
    first. Ctrl-C needs none of this: it is a crash Prefect handles, hooks included."""
    from hpo_flow.tasks.runlog import RedactingLogger
    from hpo_flow.tasks.sweep import stop_all_driven_sweeps

    def stop_and_exit(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        stop_all_driven_sweeps(RedactingLogger(logging.getLogger("hpo_flow"), {}), why=f"got {name}")
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop_and_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _OurErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed flow run's exception with its traceback; for an HpoFlowError (a failed
    sweep, a refused config) that is 30 lines in front of the one-line `error:` the CLI prints."""

    def filter(self, record: logging.LogRecord) -> bool:
        from hpo_flow.adapters.errors import HpoFlowError

        if record.exc_info and isinstance(record.exc_info[1], HpoFlowError):
            record.exc_info, record.exc_text = None, None
        return True


def _no_tracebacks_for_our_errors() -> None:
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not any(
                isinstance(f, _OurErrorsWithoutTraceback) for f in handler.filters
            ):
                handler.addFilter(_OurErrorsWithoutTraceback())


def _quiet() -> None:
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=_QUIET_MODULES)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def print_outcome(outcome: SweepOutcome, dry_run: bool, out: TextIO) -> None:
    """A short report of the sweep and where to look next: MLflow UI, the model, the config diff."""

    from hpo_flow.tasks.sweep import short

    def say(line: str = "") -> None:
        print(line, file=out)

    if outcome.status == "SKIPPED":
        say(f"{outcome.config_path}: tuning.enabled is false; no sweep was run.")
        return
    say()
    say(f"Sweep {outcome.sweep} on {outcome.backend}: {outcome.status}, {outcome.trials} trials")
    if outcome.sweep_choice:
        say(f"  generation {outcome.generation}: {outcome.sweep_choice}")
    say(f"  {outcome.trial_counts}")
    if outcome.best_trial is not None:
        values = ", ".join(f"{k}={short(v)}" for k, v in outcome.best_params.items())
        best = short(outcome.best_objective)
        say(f"Best trial {outcome.best_trial}: {outcome.objective_metric} = {best}  [{values}]")
    say()
    say("Where to look")
    say(f"  MLflow UI   {mlflow_ui_hint(outcome.tracking_uri or '', outcome.experiment)}")
    say(f"              experiment {outcome.experiment!r}, parent run of sweep {outcome.sweep}")
    if outcome.model_name:
        say(f"  Model       {outcome.model_name} version {outcome.model_version} registered")
        say(f"              {'promoted' if outcome.promoted else 'not promoted'}: {outcome.promotion}")
        if outcome.alias_version:
            hint = (
                outcome.model_hint or f'mlflow.pyfunc.load_model("models:/{outcome.model_name}@{outcome.model_alias}")'
            )
            say(f"              {hint}")
    if outcome.best_trial is None:
        return
    held = "the winning values" if outcome.promoted is not False else f"the values of @{outcome.model_alias}"
    if outcome.config_note:
        say(f"  Config      {outcome.config_note}")
    if not outcome.diff:
        if outcome.config_note:
            return
        say(f"  Config      {outcome.config_path} already holds {held}")
        return
    if outcome.config_written:
        say(f"  Config      {outcome.config_path} updated with {held}:")
    else:
        why = "--dry-run" if dry_run else "tuning.update_config is false" if not outcome.config_note else "see above"
        say(f"  Config      {outcome.config_path} not changed ({why}); write-back would make this change:")
    for line in outcome.diff.rstrip("\n").splitlines():
        say(f"    {line}")


def mlflow_ui_hint(tracking_uri: str, experiment: str | None = None) -> str:
    """How to open the MLflow UI on this store, at the experiment's runs when it can be found."""
    from hpo_flow.tasks.tracking.store import absolute_uri, runs_view_path

    page = runs_view_path(tracking_uri, experiment) if experiment else ""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri.rstrip('/')}{page}"
    if tracking_uri.startswith("sqlite:///"):
        # a relative SQLite path is relative to where the command runs: say so with the absolute one
        tracking_uri = absolute_uri(tracking_uri)
    return f"mlflow ui --backend-store-uri {tracking_uri}   (then open http://127.0.0.1:5000{page})"
