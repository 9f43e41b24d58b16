"""`LocalAdapter`: the port for `tuning.backend: local`.

`submit` writes the spec into the sweep's directory and starts a detached runner (unless one is
alive or the sweep is over); `poll` reads the study alone; `cancel` stops the runner and every
trial process of the sweep on this machine, and tells workers elsewhere to stop.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from hpo_flow.adapters.errors import BackendError, PlanError, Problem
from hpo_flow.adapters.local.state import (
    END_ATTR,
    RUN_ATTR,
    RUNNER_MODULE,
    START_ATTR,
    STOP_ATTR,
    SweepPaths,
    end_record,
    is_runner_process,
    last_log_lines,
    lock_held,
    read_runner_pid,
    read_spec,
    runner_alive,
    stored_config_hash,
    to_trial,
    write_runner_pid,
    write_spec,
)
from hpo_flow.adapters.local.storage import hostname, open_storage, storage_target, sync_storage
from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig

if TYPE_CHECKING:
    import optuna

WATCH_INTERVAL_S = 0.1  # how often wait_for_change looks at the sweep's files
CANCEL_WAIT_S = 8.0  # cancel returns within 10 s: the runner gets this long to stop its trials itself
KILL_WAIT_S = 1.5  # then this long, at most, for the runner's process to be gone
_children: list[subprocess.Popen[bytes]] = []  # runners this process started: reaped so no zombie lingers


class LocalAdapter:
    backend = "local"

    def __init__(self) -> None:
        # Reused between polls: a journal storage then reads only what was appended since the last poll.
        self._storages: dict[str, Any] = {}  # storage location -> storage
        self._studies: dict[str, Any] = {}  # storage location#study name -> study

    # ------------------------------------------------------------------ plan

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        from hpo_flow.adapters.local.plan import build_plan

        return build_plan(spec, problems=self.problems(spec), backend=self.backend)

    # ------------------------------------------------------------------ submit

    def submit(self, spec: HpoConfig) -> SweepRef:
        from filelock import FileLock

        from hpo_flow.adapters.local.warm import enqueue_warm_points

        problems = self.problems(spec)
        if problems:
            raise PlanError(self.backend, problems)
        cwd = Path.cwd()
        paths = SweepPaths.for_spec(spec, cwd)
        try:
            paths.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # checked by local_problems; this is a race or a file system's refusal
            workdir = spec.backends.local.workdir
            message = f"cannot create {paths.root} ({exc.strerror}); set it to a directory this user can write"
            raise PlanError(self.backend, [Problem("backends.local.workdir", workdir, message)]) from None
        ref = SweepRef(backend=self.backend, name=spec.sweep_name(), workdir=str(paths.root))
        with FileLock(str(paths.submit_lock)):
            known = stored_config_hash(paths)
            if known is not None and known != spec.config_hash():
                raise BackendError(
                    f"the sweep directory {paths.root} holds a different config under the sweep name "
                    f"{spec.sweep_name()!r}; change tuning.sweep_name, or remove the directory to start over"
                )
            if runner_alive(paths):
                return ref
            write_spec(paths, spec, cwd)
            study = self._study(paths, spec)
            if study is not None and END_ATTR in study.user_attrs:
                return ref  # finished (completed, failed or cancelled): nothing to start
            if study is None and spec.lineage is not None and spec.lineage.warm_points:
                # A new generation: its study exists before its runner, holding the points to try first.
                enqueue_warm_points(self._study(paths, spec, create=True), spec)
            with contextlib.suppress(FileNotFoundError):
                paths.stop_file.unlink()  # a STOP left by a cancel that never reached the storage
            self._start_runner(paths, cwd)
        return ref

    def problems(self, spec: HpoConfig) -> list[Problem]:
        """What this backend cannot run as configured, each naming the key, the value and the fix."""
        from hpo_flow.adapters.local.search import local_problems
        from hpo_flow.adapters.local.warm import warm_start_problems

        return local_problems(spec) + warm_start_problems(spec)

    def _start_runner(self, paths: SweepPaths, cwd: Path) -> None:
        with open(paths.runner_log, "ab") as log:
            proc = subprocess.Popen(
                # -P: the user's folder is the runner's working directory, not a place to import from; a
                # package of theirs must not shadow one of ours (or of Optuna's) in the runner.
                [sys.executable, "-P", "-m", RUNNER_MODULE, str(paths.root)]
                + ([] if self.backend == "local" else ["--backend", self.backend]),
                cwd=str(cwd),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        write_runner_pid(paths, proc.pid)  # seen by runner_alive until the runner takes its lock
        _children.append(proc)

    # ------------------------------------------------------------------ poll

    def poll(self, ref: SweepRef) -> SweepState:
        _reap()
        paths = self._paths(ref)
        spec, _ = read_spec(paths)
        study = self._study(paths, spec)
        alive = _runner_running(paths)
        if study is None:
            if alive:
                return SweepState(SweepStatus.PENDING, [], "the runner is starting")
            if paths.stop_file.exists():
                return SweepState(SweepStatus.STOPPED, [], "cancelled before it started")
            return SweepState(SweepStatus.FAILED, [], self._died_message(paths), interrupted=True)
        frozen = study.get_trials(deepcopy=False)
        trials = [to_trial(t, spec.tuning.objective_metric) for t in frozen]
        attrs = study.user_attrs
        end = attrs.get(END_ATTR)
        running = [t for t in trials if t.status == TrialStatus.RUNNING]
        if end is not None:
            status = SweepStatus(end["status"])
            if running:
                # Workers elsewhere are still stopping their trials after the end was decided.
                return SweepState(SweepStatus.STOPPING, trials, f"{end.get('message')}; {len(running)} still stopping")
            return SweepState(status, trials, end.get("message"))
        if STOP_ATTR in attrs or paths.stop_file.exists():
            return SweepState(SweepStatus.STOPPING, trials, "cancel requested")
        if alive or self._others_running(frozen):
            return SweepState(SweepStatus.RUNNING, trials)
        return SweepState(SweepStatus.FAILED, trials, self._died_message(paths), interrupted=True)

    def wait_for_change(self, ref: SweepRef, timeout: float) -> None:
        """Return as soon as the sweep may have news, or after `timeout` seconds.

        News is the study's journal growing (a trial started, reported or ended), a trial
        directory appearing, or the runner's lock changing hands (the runner ended): each is a
        stat or a lock probe on this machine, so the flow notices a trial's end within a tenth of
        a second without polling the study itself. A study in a database (workers elsewhere) has
        no file to watch: the runner's lock still is, and the timeout covers the rest.
        """
        paths = self._paths(ref)
        spec, _ = read_spec(paths)
        target = storage_target(spec, paths.root)
        watched = [paths.trials, paths.stop_file] + ([Path(target.location)] if target.kind == "journal" else [])

        def mark() -> tuple[Any, ...]:
            return (_runner_running(paths), *(_stat(p) for p in watched))

        before = mark()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(WATCH_INTERVAL_S, left))
            if mark() != before:
                return

    def trial_log(self, ref: SweepRef, trial: Trial) -> Path | None:
        """The trial's output.log in its directory (on this machine; a worker's are on its own)."""
        found = Path(trial.log_path) if trial.log_path else None
        return found if found is not None and found.is_file() else None

    def run_worker(self, spec: HpoConfig) -> int:
        from hpo_flow.adapters.local.worker import run_worker

        return run_worker(spec)

    def _others_running(self, frozen: list[optuna.trial.FrozenTrial]) -> bool:
        """Trials running under live workers (other `hpo-flow worker` processes): the sweep goes on."""
        from optuna.trial import TrialState

        host = hostname()
        for t in frozen:
            if t.state != TrialState.RUNNING:
                continue
            run = t.user_attrs.get(RUN_ATTR)
            if run is None:
                continue  # claimed, never launched: its claimer died between the two (recovery fails it)
            if run.get("host") != host or lock_held(run.get("owner_lock", "")):
                return True
        return False

    @staticmethod
    def _died_message(paths: SweepPaths) -> str:
        tail = last_log_lines(paths.runner_log)
        message = "the runner stopped before the sweep finished; submitting the same config again resumes it"
        return f"{message} (runner.log: {tail})" if tail else message

    # ------------------------------------------------------------------ cancel

    def cancel(self, ref: SweepRef) -> None:
        from hpo_flow.adapters.local.process import kill_leftovers, process_alive, signal_group

        _reap()
        paths = self._paths(ref)
        if not paths.spec.exists():
            return
        spec, _ = read_spec(paths)
        study = self._study(paths, spec)
        ended = study is not None and END_ATTR in study.user_attrs
        if not ended:
            paths.stop_file.touch()
            if study is not None:
                study.set_user_attr(STOP_ATTR, {"reason": "cancel", "at": time.time()})
        pid = read_runner_pid(paths)
        if pid is not None and is_runner_process(pid, paths):
            signal_group(pid, signal.SIGTERM)
            end = time.monotonic() + CANCEL_WAIT_S
            while time.monotonic() < end and process_alive(pid) and is_runner_process(pid, paths):
                time.sleep(0.05)
                _reap()
            if process_alive(pid) and is_runner_process(pid, paths):
                signal_group(pid, signal.SIGKILL)
            # An exiting process stops looking like the runner (its command line goes) before it is
            # gone, and a loaded machine takes a while to tear it down: cancel returns once it is.
            end = time.monotonic() + KILL_WAIT_S
            while time.monotonic() < end and process_alive(pid):
                time.sleep(0.02)
                _reap()
        # Whatever is left on this machine (a runner that was killed, a worker's orphans) goes now.
        kill_leftovers([str(paths.trials)], self._recorded_groups(study), grace=0)
        _reap()
        if study is None:
            study = self._study(paths, spec, create=True)
        self._close_leftover_trials(study)
        if END_ATTR not in study.user_attrs:
            study.set_user_attr(END_ATTR, end_record(SweepStatus.STOPPED, "cancelled"))
        from hpo_flow.adapters.local import optuna_access

        sync_storage(optuna_access.storage_of(study))

    def _recorded_groups(self, study: optuna.Study | None) -> list[int]:
        from optuna.trial import TrialState

        if study is None:
            return []
        host = hostname()
        groups = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = t.user_attrs.get(RUN_ATTR) or {}
            if run.get("host") == host and run.get("pgid"):
                groups.append(int(run["pgid"]))
        return groups

    def _close_leftover_trials(self, study: optuna.Study) -> None:
        """Trials still RUNNING on this machine with no live owner were killed above: record them as stopped."""
        from optuna.trial import TrialState

        from hpo_flow.adapters.local import optuna_access
        from hpo_flow.adapters.local.state import RESULT_ATTR, TrialRecord

        host = hostname()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = t.user_attrs.get(RUN_ATTR) or {}
            if run and (run.get("host") != host or lock_held(run.get("owner_lock", ""))):
                continue
            record = TrialRecord(reason="stopped: cancelled", stopped=True)
            optuna_access.set_trial_attr(study, t, RESULT_ATTR, record.to_attr())
            with contextlib.suppress(RuntimeError):
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)

    # ------------------------------------------------------------------ helpers

    def _paths(self, ref: SweepRef) -> SweepPaths:
        if ref.backend != self.backend or not ref.workdir:
            raise BackendError(f"not a {self.backend} sweep reference: {ref.to_json()}")
        paths = SweepPaths(Path(ref.workdir))
        if not paths.spec.exists():
            raise BackendError(f"no local sweep at {paths.root} (spec.json is missing); submit the config again")
        return paths

    @overload
    def _study(self, paths: SweepPaths, spec: HpoConfig, create: Literal[True]) -> optuna.Study: ...

    @overload
    def _study(self, paths: SweepPaths, spec: HpoConfig, create: bool = False) -> optuna.Study | None: ...

    def _study(self, paths: SweepPaths, spec: HpoConfig, create: bool = False) -> optuna.Study | None:
        """The sweep's study; with `create`, made when it is not there yet (never None then)."""
        import optuna

        from hpo_flow.adapters.local.storage import find_study, open_study

        target = storage_target(spec, paths.root)
        if target.kind == "journal" and not Path(target.location).exists() and not create:
            return None
        storage = self._storages.get(target.location)
        if storage is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = open_storage(target)
            self._storages[target.location] = storage
        key = f"{target.location}#{spec.sweep_name()}"
        if key in self._studies:
            return self._studies[key]
        study: optuna.Study | None
        if create:
            study = open_study(storage, spec)
            if START_ATTR not in study.user_attrs:
                study.set_user_attr(START_ATTR, time.time())
        else:
            study = find_study(storage, spec.sweep_name())
        if study is not None:
            self._studies[key] = study
        return study


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _runner_running(paths: SweepPaths) -> bool:
    """`runner_alive`, or a runner this process started and that has not exited: right after
    `Popen` returns, a loaded kernel can still be setting the new program up, and its
    /proc/PID/cmdline is empty or its parent's until then, so it would not look like the runner."""
    if runner_alive(paths):
        return True
    pid = read_runner_pid(paths)
    return any(proc.pid == pid and proc.poll() is None for proc in _children)


def _reap() -> None:
    """Collect runners this process started that have exited, so their pids do not linger as zombies."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)
