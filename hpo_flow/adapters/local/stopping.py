"""How a sweep loop stops its trials and itself: a cancel, the sweep's deadline, a trial's timeout, an
end decided elsewhere, or the worker leaving (its trials are then retried elsewhere).

A mixin of `SweepLoop` (hpo_flow.adapters.local.loop): the decisions live here, the loop calls
them once per turn. Each stop is SIGTERM to the trial's process group first, SIGKILL after its
grace; the loop sees the exit and records the trial with the reason set here.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING

from hpo_flow.adapters.local import limits
from hpo_flow.adapters.local.state import END_ATTR, STOP_ATTR, SweepPaths
from hpo_flow.adapters.local.trial_io import RunningTrial
from hpo_flow.adapters.port import SweepStatus
from hpo_flow.adapters.spec import HpoConfig

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("hpo_flow.local")

CANCEL_GRACE_CAP_S = 5.0  # cancel must leave nothing running within 10 s, whatever kill_grace_seconds says
STOP_CHECK_S = 1.0  # how often the study is asked whether a cancel arrived from another machine
# SIGTERM this share of max_runtime_seconds (at least DEADLINE_MARGIN_MIN_S, at most kill_grace_seconds)
# before the deadline; SIGKILL at KILL_AT_SHARE of that margin; the rest is for writing the end.
DEADLINE_MARGIN_SHARE = 0.01
DEADLINE_MARGIN_MIN_S = 0.2
KILL_AT_SHARE = 0.8


class Stopping:
    """The stopping half of the sweep loop; the loop owns every attribute named here."""

    spec: HpoConfig
    paths: SweepPaths
    study: optuna.Study
    role: str
    grace: float
    running: dict[int, RunningTrial]
    ending: limits.Verdict | None
    leaving: str | None
    sweep_start: float
    _signals: list[int]
    _next_stop_check: float

    def _setup_deadline(self) -> None:
        """max_runtime_seconds is spent to its end: slots start trials until `stop_at`, then whatever
        runs gets SIGTERM, and SIGKILL early enough that the sweep has ended by the deadline itself.

        Starting only trials expected to finish in time left slots idle for up to a trial's length
        and ended sweeps that much early (18% of a 60 s budget with 7 s trials); a trial cut by the
        deadline is recorded as stopped, with its curve.
        """
        budget = self.spec.tuning.max_runtime_seconds
        self.deadline: float | None = None
        self.stop_at: float | None = None
        self.deadline_margin = self.grace
        if budget:
            self.deadline = self.sweep_start + budget
            self.deadline_margin = min(self.grace, max(DEADLINE_MARGIN_MIN_S, DEADLINE_MARGIN_SHARE * budget))
            self.stop_at = self.deadline - self.deadline_margin

    def _signal_stop(self, rt: RunningTrial, grace: float) -> None:
        if rt.kill_at is not None:
            return
        rt.signal(signal.SIGTERM)
        rt.kill_at = time.monotonic() + grace

    def _stop(self, rt: RunningTrial, reason: str, grace: float, retry: bool = False) -> None:
        if rt.stop_reason is None and not rt.pruned and not rt.timed_out:
            rt.stop_reason, rt.retry = reason, retry
        self._signal_stop(rt, grace)

    def _begin_end(self, verdict: limits.Verdict, grace: float | None = None) -> None:
        if self.ending is not None:
            return
        self.ending = verdict
        log.info("sweep ending (%s): %s", verdict.status.value, verdict.message)
        for rt in self.running.values():
            self._stop(rt, verdict.stop_reason, self.grace if grace is None else grace)

    def _begin_cancel(self) -> None:
        grace = min(self.grace, CANCEL_GRACE_CAP_S)
        self._begin_end(limits.Verdict(SweepStatus.STOPPED, "cancelled", "cancelled"), grace)

    def _begin_leave(self, reason: str) -> None:
        if self.leaving is not None or self.ending is not None:
            return
        self.leaving = reason
        log.info("leaving the sweep (%s); running trials will be retried", reason)
        for rt in self.running.values():
            self._stop(rt, reason, min(self.grace, CANCEL_GRACE_CAP_S), retry=True)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if self.paths.stop_file.exists():
                self._begin_cancel()
            else:
                self._begin_leave(f"{self.role} interrupted by {signal.Signals(signum).name}")

    def _check_stop_requests(self, now: float) -> None:
        if self.ending is not None:
            return
        if self.paths.stop_file.exists():
            self._begin_cancel()
            return
        if now < self._next_stop_check:
            return
        self._next_stop_check = now + STOP_CHECK_S
        attrs = self.study.user_attrs
        if STOP_ATTR in attrs:
            self._begin_cancel()
        elif END_ATTR in attrs:
            end = attrs[END_ATTR]
            self._begin_end(limits.Verdict(SweepStatus(end["status"]), end.get("message", ""), "sweep ended"))

    def _check_timers(self, now: float) -> None:
        if self.stop_at is not None and self.ending is None and time.time() >= self.stop_at:
            budget = self.spec.tuning.max_runtime_seconds
            self._begin_end(
                limits.Verdict(SweepStatus.COMPLETED, f"max_runtime_seconds ({budget}) reached", "sweep deadline"),
                grace=KILL_AT_SHARE * self.deadline_margin,
            )
        for rt in self.running.values():
            if rt.timeout_at is not None and now >= rt.timeout_at and not rt.timed_out and rt.kill_at is None:
                rt.timed_out = True
                log.info("trial %d timed out", rt.number)
                self._signal_stop(rt, self.grace)
            if rt.kill_at is not None and now >= rt.kill_at and rt.proc.returncode is None:
                rt.signal(signal.SIGKILL)
