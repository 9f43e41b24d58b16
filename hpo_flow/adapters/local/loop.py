"""The sweep loop: claim trials from the study, run them in slots, read their metrics live, tell the study.

One thread does everything. It waits in `select` on every trial's stdout and stderr pipes and on
a wake-up pipe that signals (SIGCHLD, SIGTERM, SIGINT) write to, so a finished trial is noticed
at once and no Optuna call ever runs on two threads. The same loop runs in the detached runner
that `submit` starts and in every `hpo-flow worker` joined to a shared study.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_flow.adapters.local import limits, optuna_access, recovery
from hpo_flow.adapters.local.hosts import PlacementFailed, PlacementLost, TrialPlacement, placement_for
from hpo_flow.adapters.local.judge import TrialExit, judge
from hpo_flow.adapters.local.process import describe_exit
from hpo_flow.adapters.local.slots import Slot, SlotAllocator
from hpo_flow.adapters.local.state import (
    END_ATTR,
    LIVE_ATTR,
    RESULT_ATTR,
    RETRY_ATTR,
    RUN_ATTR,
    START_ATTR,
    STOP_ATTR,
    HeldLock,
    SweepPaths,
    TrialRecord,
    end_record,
)
from hpo_flow.adapters.local.stopping import STOP_CHECK_S, Stopping
from hpo_flow.adapters.local.storage import (
    HEARTBEAT_INTERVAL_S,
    ClaimLock,
    hostname,
    open_storage,
    open_study,
    storage_target,
    sync_storage,
)
from hpo_flow.adapters.local.trial_io import RunningTrial, count_files
from hpo_flow.adapters.port import SweepStatus
from hpo_flow.adapters.redact import redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.trial_tracking import trial_tracking

log = logging.getLogger("hpo_flow.local")

IDLE_RECHECK_S = 1.0  # how often a loop with no work looks again (other workers may free or add work)
RUN_READ_S = 2.0  # how often a running trial's MLflow run is read for an objective no regex reads
LIVE_FLUSH_S = 2.0  # how often a running trial's curves are written for poll
SYNC_S = 1.0  # how often the journal file is fsynced: at most this much is lost to a power cut
RECOVERY_S = 2.0  # how often the study is searched for trials whose runner died (here or elsewhere)


class SweepLoop(Stopping):
    """Runs trials of one sweep until its budget, a limit, a cancel or a leave ends it here."""

    def __init__(
        self,
        spec: HpoConfig,
        paths: SweepPaths,
        cwd: Path,
        *,
        role: str = "primary",
        slots: list[Slot] | None = None,
        backend: str | None = None,
    ) -> None:
        self.spec = spec
        self.paths = paths
        self.cwd = cwd
        self.role = role
        self.host = hostname()
        self.worker_id = f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.owner_lock = HeldLock(paths.owners / f"{self.worker_id}.lock")
        self.target = storage_target(spec, paths.root)
        self._given_slots = slots
        # Whose placement runs the trials: the adapter that started this runner says (`--backend`),
        # a worker goes by the config.
        self.backend = backend or spec.tuning.backend
        self.grace = spec.backends.local.kill_grace_seconds
        self.running: dict[int, RunningTrial] = {}
        self.ending: limits.Verdict | None = None  # the sweep ends: stop trials, then write the end record
        self.leaving: str | None = None  # this worker leaves: stop its trials, retry them elsewhere
        self.no_work_until = 0.0
        self.no_work_reason = ""
        self._signals: list[int] = []
        self._next_stop_check = 0.0
        self._next_heartbeat = 0.0
        self._next_recovery = 0.0  # the first pass runs when the loop joins
        self._next_sync = 0.0
        self.started_local = 0

    # ------------------------------------------------------------------ public

    def request(self, signum: int) -> None:
        """Called from a signal handler: only records the signal; the loop acts on it."""
        self._signals.append(signum)

    def run(self) -> SweepStatus | None:
        """Run until this loop is done; returns the sweep's end status, or None when it left the sweep unfinished."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # ask/tell with heartbeats is what Optuna's optimize() does inside; its warnings say nothing here.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)
        if not self.owner_lock.acquire():
            raise RuntimeError(f"cannot take {self.owner_lock.path}")
        try:
            from hpo_flow.adapters.local import search

            self.search = search
            self.storage = open_storage(self.target, heartbeat=True)
            pruner = search.build_pruner(self.spec)
            self.study = open_study(self.storage, self.spec, optuna.samplers.RandomSampler(), pruner)
            self.study.sampler = search.build_sampler(self.spec, worker=self._sampler_stream())
            self.heartbeat = optuna_access.heartbeats(self.study)
            self.prune_enabled = not isinstance(pruner, optuna.pruners.NopPruner)
            self.claim = ClaimLock(self.target, self.spec.sweep_name(), self.paths.root)
            self.objective = self.spec.tuning.objective_metric
            self.tracking = trial_tracking(self.spec)
            # Without a regex the objective is what the script logs to its own MLflow run (Azure ML's way).
            self.objective_from_run = self.spec.training.metric(self.objective) is None
            criteria = self.spec.tuning.completion_criteria
            if criteria and criteria.convergence_detected:
                log.warning("completion_criteria.convergence_detected is SageMaker's own rule; ignored here")
            with self.claim:
                attrs = self.study.user_attrs
                if END_ATTR in attrs:
                    log.info("sweep already ended: %s", attrs[END_ATTR].get("message"))
                    return SweepStatus(attrs[END_ATTR]["status"])
                if START_ATTR not in attrs:
                    self.study.set_user_attr(START_ATTR, time.time())
                    attrs = self.study.user_attrs
                self.sweep_start = float(attrs[START_ATTR])
            try:
                self.placement: TrialPlacement = placement_for(
                    self.spec, self.paths, self.cwd, self.backend, self._given_slots
                )
                self.allocator = SlotAllocator(self.placement.first_slots())
            except PlacementFailed as exc:
                log.error("%s", exc)
                return self._write_end(SweepStatus.FAILED, str(exc))
            self._setup_deadline()
            self._setup_wakeup()
            log.info(
                "%s %s joined sweep %s: %d slot(s) %s, storage %s",
                self.role,
                self.worker_id,
                self.spec.sweep_name(),
                self.allocator.size,
                self.allocator.labels,
                self.target.describe(),
            )
            return self._loop()
        finally:
            self._shutdown()

    # ------------------------------------------------------------------ setup and teardown

    def _sampler_stream(self) -> int:
        """Which random stream of the seed this process draws from.

        A fresh sweep's runner draws stream 0, so one seed gives one sequence of trials. A resumed
        runner starts at the number of trials already in the study, and a worker at a random
        stream: re-drawing stream 0 would propose again the configurations already run.
        """
        if self.role == "worker":
            return 1 + uuid.uuid4().int % (2**31)
        return len(optuna_access.all_trials(self.study))

    def _setup_wakeup(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._wake_r: socket.socket | None = None
        self._old_wakeup = -1
        if threading.current_thread() is threading.main_thread():
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
            self._old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
            self.selector.register(self._wake_r, selectors.EVENT_READ, None)

    def _shutdown(self) -> None:
        for rt in list(self.running.values()):  # only on an unexpected error: leave nothing behind
            rt.signal(signal.SIGKILL)
        if hasattr(self, "placement"):
            self.placement.close()
        if getattr(self, "_wake_r", None) is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            signal.signal(signal.SIGCHLD, self._old_chld)
            self._wake_r.close()  # type: ignore[union-attr]
            self._wake_w.close()
        if hasattr(self, "storage"):
            sync_storage(self.storage)
        if hasattr(self, "claim"):
            self.claim.close()
        self.owner_lock.release()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> SweepStatus | None:
        while True:
            now = time.monotonic()
            self._handle_signals()
            self._check_stop_requests(now)
            self._check_exits()
            self._check_slots()
            self._check_timers(now)
            self._maintain(now)
            self._recover(now)
            if self.ending is None and self.leaving is None and now >= self.no_work_until:
                self._fill_slots()
            if not self.running:
                if self.leaving is not None:
                    log.info("left the sweep: %s", self.leaving)
                    return None
                if self.ending is not None:
                    return self._write_end(self.ending.status, self.ending.message)
                if self.no_work_until > now:  # no room for a trial here: is the sweep over everywhere?
                    done = self._finish_if_idle()
                    if done is not None:
                        return done
            self._wait(self._timeout())

    def _timeout(self) -> float:
        now = time.monotonic()
        horizon = now + (STOP_CHECK_S if self._wake_r is not None else 0.1)
        for rt in self.running.values():
            for t in (rt.timeout_at, rt.kill_at):
                if t is not None:
                    horizon = min(horizon, t)
            if rt.proc.returncode is None and not rt.fds:
                horizon = min(horizon, now + 0.02)  # pipes closed: the exit is imminent
        if self.stop_at is not None and self.ending is None:
            horizon = min(horizon, now + max(0.0, self.stop_at - time.time()))
        if self.no_work_until > now and not self.running:
            horizon = min(horizon, self.no_work_until)
        return max(0.0, horizon - now)

    def _wait(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data is None:  # the wake-up pipe: a signal arrived; its handler already recorded it
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    while self._wake_r.recv(512):  # type: ignore[union-attr]
                        pass
                continue
            self._read(key.data, key.fd)

    # ------------------------------------------------------------------ claiming and launching

    def _fill_slots(self) -> None:
        while self.allocator.free and self.ending is None and self.leaving is None:
            if not self._claim_one():
                return

    def _claim_one(self) -> bool:
        with self.claim:
            trials = self.study.get_trials(deepcopy=False)
            if not self._still_open(trials):
                return False
            reason = self._no_room(trials)
            if reason:
                self.no_work_reason = reason
                self.no_work_until = time.monotonic() + IDLE_RECHECK_S
                return False
            trial = self.study.ask()
            slot = self.allocator.acquire()
            assert slot is not None
            try:
                params = self.search.suggest_params(trial, self.spec)
                started = self.placement.start(self.spec, self.paths, self.cwd, trial, params, slot, self.tracking)
            except PlacementLost as exc:  # its place went, not its code
                self._lost_before_start(trial, params, slot, exc)
            except Exception as exc:  # a trial that cannot start is a failed trial, not a dead sweep
                self.allocator.release(slot)
                reason = redact_text(f"could not start: {type(exc).__name__}: {exc}")
                log.error("trial %s %s", trial.number, reason)
                trial.set_user_attr(RESULT_ATTR, TrialRecord(reason=reason, counts=True).to_attr())
                self._tell(trial, TrialState.FAIL)
            else:
                self._register(started)
        self.no_work_until = 0.0
        return True

    def _lost_before_start(
        self, trial: optuna.trial.Trial, params: dict[str, Any], slot: Slot, lost: PlacementLost
    ) -> None:
        """Run it again in another slot, once; a retry that loses its place too is a failure that counts."""
        self.allocator.retire(slot)
        self.placement.lost(slot)
        if lost.tracking_run is not None:  # recording adopts it as this failed trial's run, and closes it
            trial.set_user_attr(RUN_ATTR, {"params": params, "tracking_run": lost.tracking_run})
        again = RETRY_ATTR not in trial.user_attrs
        reason = f"{lost}; " + ("retried as a new trial" if again else "it was already a retry: not retried again")
        log.warning("trial %s: %s", trial.number, reason)
        trial.set_user_attr(RESULT_ATTR, TrialRecord(reason=reason, counts=not again).to_attr())
        self._tell(trial, TrialState.FAIL)
        if again:
            recovery.enqueue_retry(self.study, trial, params)

    def _still_open(self, trials: list[FrozenTrial]) -> bool:
        """Whether the sweep still takes trials; notices ends, cancels and limits decided elsewhere."""
        attrs = self.study.user_attrs
        if END_ATTR in attrs:
            end = attrs[END_ATTR]
            self._begin_end(limits.Verdict(SweepStatus(end["status"]), end.get("message", ""), "sweep ended"))
            return False
        if STOP_ATTR in attrs:
            self._begin_cancel()
            return False
        found = limits.verdict(self.spec, trials)
        if found is not None:
            self._begin_end(found)
            return False
        return True

    def _no_room(self, trials: list[FrozenTrial]) -> str:
        tuning = self.spec.tuning
        if limits.budget_used(trials) >= tuning.max_jobs:
            return f"max_jobs ({tuning.max_jobs}) reached"
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if (
            not waiting
            and isinstance(self.study.sampler, optuna.samplers.GridSampler)
            and limits.grid_exhausted(trials)
        ):
            return "every point of the grid was tried"
        return ""

    def _register(self, rt: RunningTrial) -> None:
        """Track a started trial, and record where it runs so any process can find or recover it."""
        rt.watch(self.selector)
        self.running[rt.number] = rt
        self.started_local += 1
        rt.trial.set_user_attr(
            RUN_ATTR,
            {
                "params": rt.params,
                "worker": self.worker_id,
                "host": self.host,
                "owner_lock": str(self.owner_lock.path),
                **rt.proc.where(),  # pid and process group here; a Ray trial's node
                "slot": rt.slot.label,
                "log_path": str(rt.log.name),
                "model_dir": str(rt.model_dir),
                "tracking_run": rt.tracking_run,
            },
        )
        if self.heartbeat:
            optuna_access.record_heartbeat(self.study, rt.trial)
        log.info("trial %d started on %s: %s", rt.number, rt.slot.label, redact_text(_show_params(rt.params)))

    # ------------------------------------------------------------------ output

    def _read(self, rt: RunningTrial, fd: int) -> None:
        self._observe(rt, rt.read(self.selector, fd))

    def _read_run(self, rt: RunningTrial, names: list[str] | None) -> list[tuple[str, int, float]]:
        """New points of the metrics the script logged to its own MLflow run (all of them, or
        `names`); a metric that a regex reads from the output is the output's."""
        if rt.tracking_run is None or self.tracking is None:
            return []
        found: list[tuple[str, int, float]] = []
        for name, points in self.tracking.histories(rt.tracking_run, names).items():
            if self.spec.training.metric(name) is None:
                found += rt.reader.merge(name, points)
        return found

    def _observe(self, rt: RunningTrial, found: list[tuple[str, int, float]]) -> None:
        """Report the objective's new steps to the study, which may prune the trial."""
        for name, step, value in found:
            if name != self.objective:
                rt.live_dirty = True
                continue
            rt.trial.report(value, step)
            if self.prune_enabled and not rt.pruned and rt.stop_reason is None and rt.trial.should_prune():
                rt.pruned = True
                log.info("trial %d pruned at step %d (%s %s)", rt.number, step, name, value)
                self._signal_stop(rt, self.grace)

    # ------------------------------------------------------------------ finishing trials

    def _check_exits(self) -> None:
        for rt in list(self.running.values()):
            if rt.proc.exited():
                # Before reaping, so the group id cannot have been reused: leave no child behind.
                rt.stop_everything()
                rt.proc.wait()
                if rt.proc.lost is not None:
                    self._lost(rt, rt.proc.lost)
                self._observe(rt, rt.drain(self.selector))
                self._observe(rt, self._read_run(rt, None))
                self._finish_trial(rt)

    def _lost(self, rt: RunningTrial, reason: str) -> None:
        """Its place went (a Ray node died): run it again once, elsewhere; a retry lost too is not retried."""
        self.placement.lost(rt.slot)
        self.allocator.retire(rt.slot)
        if rt.stop_reason is not None or rt.pruned or rt.timed_out:
            return  # it was being stopped anyway: that is its end
        if RETRY_ATTR in rt.trial.user_attrs:  # once: a configuration that loses its place again counts
            rt.lost = f"{reason}, and it was already a retry: not retried again"
        else:
            rt.stop_reason, rt.retry = reason, True

    def _check_slots(self) -> None:
        """Take the slots a placement found since, and stop using those that went."""
        try:
            found = self.placement.new_slots()
        except PlacementFailed as exc:  # no slot will ever start a trial (Ray cannot build its environment)
            self._begin_end(limits.Verdict(SweepStatus.FAILED, str(exc), "placement failed"))
            return
        for slot in found:
            self.allocator.add(slot)
            self.no_work_until = 0.0
        for slot in self.placement.take_retired():
            self.allocator.retire(slot)

    def _finish_trial(self, rt: RunningTrial) -> None:
        del self.running[rt.number]
        rt.log.close()
        self.allocator.release(rt.slot)
        code = rt.proc.returncode
        seen = TrialExit(
            exit_code=code,
            objective=rt.reader.last(self.objective),
            metrics=rt.reader.final_metrics(),
            curves=rt.curves(),
            duration_s=time.monotonic() - rt.started,
            model_files=count_files(saved := rt.saved_model()),
            worker=self.worker_id,
            stop_reason=rt.stop_reason,
            lost=rt.lost,
            retry=rt.retry,
            pruned=rt.pruned,
            timed_out=rt.timed_out,
            last_stderr=rt.last_stderr,
        )
        regex = self.spec.training.metric(self.objective)
        verdict = judge(
            seen,
            objective=self.objective,
            objective_regex=regex.Regex if regex else None,
            trial_timeout_s=self.spec.tuning.trial_timeout_seconds,
            describe_exit=describe_exit(code),
        )
        if saved != rt.model_dir:
            verdict.record.model_path = str(saved)
        rt.trial.set_user_attr(RESULT_ATTR, verdict.record.to_attr())
        self._tell(rt.trial, verdict.state, verdict.value)
        if rt.retry and self.ending is None:
            recovery.enqueue_retry(self.study, rt.trial, rt.params)
        value = verdict.value
        log.info(
            "trial %d %s%s",
            rt.number,
            verdict.state.name.lower(),
            f" {self.objective}={value}" if value is not None else f": {verdict.record.reason or ''}",
        )
        own_failure = verdict.state == TrialState.FAIL and verdict.record.counts
        if own_failure or self.spec.tuning.completion_criteria:
            found = limits.verdict(self.spec, self.study.get_trials(deepcopy=False))
            if found is not None:
                self._begin_end(found)
        self.no_work_until = 0.0  # budget or limits may have changed: look again at once

    def _tell(self, trial: optuna.trial.Trial | int, state: TrialState, value: float | None = None) -> None:
        try:
            if state == TrialState.COMPLETE:
                self.study.tell(trial, value, skip_if_finished=True)
            else:
                self.study.tell(trial, state=state, skip_if_finished=True)
        except RuntimeError as exc:
            # GridSampler calls study.stop() once the grid is done, which only works inside optimize();
            # the state is stored by then, and the loop sees the exhausted grid on its own.
            if "Study.stop" not in str(exc):
                raise

    # ------------------------------------------------------------------ upkeep and recovery

    def _maintain(self, now: float) -> None:
        if now >= self._next_sync:
            self._next_sync = now + SYNC_S
            sync_storage(self.storage)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_INTERVAL_S / 2
            if self.heartbeat:
                for rt in self.running.values():
                    optuna_access.record_heartbeat(self.study, rt.trial)
        for rt in list(self.running.values()):
            if self.objective_from_run and rt.tracking_run is not None and now >= rt.next_tracking_read:
                rt.next_tracking_read = now + RUN_READ_S
                self._observe(rt, self._read_run(rt, [self.objective]))
            if rt.live_dirty and now - rt.live_written >= LIVE_FLUSH_S:
                rt.live_dirty, rt.live_written = False, now
                rt.trial.set_user_attr(LIVE_ATTR, {"curves": rt.curves()})

    def _recover(self, now: float, locked: bool = False) -> bool:
        """Fail and retry the trials whose runner died, here or on another machine (at most every RECOVERY_S)."""
        if now < self._next_recovery:
            return False
        self._next_recovery = now + RECOVERY_S
        with contextlib.nullcontext() if locked else self.claim:
            trials = self.study.get_trials(deepcopy=False)
            dead = recovery.find_dead(
                self.study, trials, host=self.host, worker_id=self.worker_id, running_here=self.running
            )
            recovered = [d for d in dead if recovery.fail_and_retry(self.study, d, ending=self.ending is not None)]
        if recovered:
            self.no_work_until = 0.0
        return bool(recovered)

    def _finish_if_idle(self) -> SweepStatus | None:
        """No room for a trial here and none running here: end the sweep if nothing runs anywhere."""
        now = time.monotonic()
        with self.claim:
            if self._recover(now, locked=True):
                return None
            trials = self.study.get_trials(deepcopy=False)
            if any(t.state == TrialState.RUNNING for t in trials):  # running elsewhere: it may free budget
                self.no_work_until = time.monotonic() + IDLE_RECHECK_S
                return None
            if END_ATTR in self.study.user_attrs:
                return SweepStatus(self.study.user_attrs[END_ATTR]["status"])
            found = limits.verdict(self.spec, trials)
            status, message = (found.status, found.message) if found else (SweepStatus.COMPLETED, self.no_work_reason)
            return self._write_end(status, message, locked=True)

    def _write_end(self, status: SweepStatus, message: str, locked: bool = False) -> SweepStatus:
        with contextlib.nullcontext() if locked else self.claim:
            attrs = self.study.user_attrs
            if END_ATTR in attrs:
                return SweepStatus(attrs[END_ATTR]["status"])
            status, full = limits.end_summary(status, message, self.study.get_trials(deepcopy=False))
            self.study.set_user_attr(END_ATTR, end_record(status, full))
        log.info("sweep %s: %s", status.value.lower(), full)
        return status


def _show_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())
