"""Record a sweep in MLflow while it runs, from a thread beside the poll loop.

The poll loop hands every state it sees to `LiveRecorder.offer` and goes on polling; the thread
records the newest state it has not recorded yet (older ones are skipped: the newest holds
them). A trial so reaches MLflow within one poll of ending, running trials show as RUNNING child
runs with their curves so far, and a sweep that is cancelled or crashes keeps what it finished.
Plots wait for the final record (`record_sweep`), where they are drawn once, unless every trial
the budget allows has finished while the sweep is still running (a cloud service takes a while
to call its sweep done): then the thread draws them, and the final record finds them drawn.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading

from hpo_flow.adapters.port import SweepRef, SweepState
from hpo_flow.adapters.redact import redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.tracking.recording import record_sweep
from hpo_flow.tasks.tracking.store import client_for, ensure_experiment

log = logging.getLogger(__name__)


class LiveRecorder:
    """One per sweep being polled; `close` waits for the state offered last to be recorded."""

    def __init__(self, config: HpoConfig, ref: SweepRef, logger: logging.Logger | logging.LoggerAdapter = log) -> None:
        self._config = config
        self._ref = ref
        self._log = logger
        self._cond = threading.Condition()
        self._pending: SweepState | None = None
        self._closed = False
        self._warned = False
        self.parent_run_id: str | None = None
        self.recorded = 0  # states recorded, for benchmarks and tests
        # Here, not in the thread: a module imported by two threads at once can reach one of them
        # half-initialised ("partially initialized module 'mlflow'"), and the sweep runs meanwhile.
        warm_up(config)
        self._thread = threading.Thread(target=self._run, name=f"mlflow-live-{ref.name}", daemon=True)
        self._thread.start()

    def offer(self, state: SweepState) -> None:
        """Record this state soon; returns at once."""
        with self._cond:
            self._pending = state
            self._cond.notify()

    def close(self, timeout: float | None = None) -> None:
        """Record what was offered last, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                state, self._pending = self._pending, None
                if state is None:
                    return
            try:
                # Drawn here, the final record finds them current and skips them.
                done = len(state.finished_trials) >= self._config.tuning.max_jobs
                self.parent_run_id = record_sweep(self._config, self._ref, state, plots=done)
                self.recorded += 1
                if self.recorded == 1:
                    _import_for_plots()
            except Exception as exc:
                # MLflow down for a moment must not stop the sweep: the next state, or the final
                # record after the sweep (which does raise), records everything again.
                if not self._warned:
                    self._warned = True
                    self._log.warning(
                        "MLflow: live recording failed (%s); retrying with the next poll", redact_text(str(exc))
                    )


def _import_for_plots() -> None:
    """What only the final plots need and warm_up leaves out: Optuna's importances import
    scikit-learn (seconds), which would otherwise be paid after the sweep's last trial. In the
    thread, once it has recorded a state: the poll loop, past its first poll, imports nothing
    of scikit-learn's, so the two threads never import the same modules at once."""
    with contextlib.suppress(ImportError):
        importlib.import_module("optuna.importance")


def warm_up(config: HpoConfig) -> None:
    """Create the tracking store's tables and the experiment, and import what the final plots need.

    Both cost seconds the first time (MLflow migrates a new SQLite file; matplotlib, plotly,
    Optuna's plotting and its importances, with scikit-learn, load slowly), so they are done
    while something else waits: the sweep's first trials, or, from `hpo-flow run`, the Prefect
    server starting. In the calling thread, on purpose (see LiveRecorder). Best effort: the
    record that needs them does them itself, and reports what fails.
    """
    with contextlib.suppress(Exception):
        ensure_experiment(client_for(config.mlflow.tracking_uri), config.experiment_name, config.project)
    for module in ("matplotlib.pyplot", "optuna.visualization.matplotlib", "plotly.io", "optuna.importance"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
