"""Record a sweep in MLflow while it runs, from a thread beside the poll loop.

The poll loop hands every state it sees to `LiveRecorder.offer` and goes on polling; the thread
records the newest state it has not recorded yet (older ones are skipped: the newest holds
them). A trial so reaches MLflow within one poll of ending, running trials show as RUNNING child
runs with their curves so far, and a sweep that is cancelled or crashes keeps what it finished.
Plots wait for the final record (`record_sweep`), where they are drawn once.
"""

from __future__ import annotations

import logging
import threading

from adapters.port import SweepRef, SweepState
from adapters.redact import redact_text
from adapters.spec import HpoConfig
from tasks.tracking.recording import record_sweep

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
                self.parent_run_id = record_sweep(self._config, self._ref, state, plots=False)
                self.recorded += 1
            except Exception as exc:
                # MLflow down for a moment must not stop the sweep: the next state, or the final
                # record after the sweep (which does raise), records everything again.
                if not self._warned:
                    self._warned = True
                    self._log.warning(
                        "MLflow: live recording failed (%s); retrying with the next poll", redact_text(str(exc))
                    )
