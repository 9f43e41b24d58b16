"""Prefect tasks that drive a sweep through the adapter port: choose the backend, submit, wait.

Nothing here knows which backend it drives: every call goes through `SweepAdapter`. The handle of
the sweep a flow run drives is remembered (in this process, and as a Prefect variable for a worker
that runs the flow's hooks in another process) so that a cancelled or crashed flow run can stop
exactly that sweep, without re-deriving it: re-deriving would mean `submit`, which starts one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters import get_adapter
from hpo_flow.adapters.errors import ConfigError, CredentialsError, HpoFlowError, PlanError
from hpo_flow.adapters.polling import Backoff
from hpo_flow.adapters.port import (
    SweepAdapter,
    SweepRef,
    SweepState,
    SweepStatus,
    Trial,
    TrialStatus,
    WaitsForChange,
)
from hpo_flow.adapters.redact import redact
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.artifacts import SweepProgress
from hpo_flow.tasks.progress import TerminalProgress
from hpo_flow.tasks.runlog import RedactingLogger, run_logger
from hpo_flow.tasks.tracking.live import LiveRecorder

# A quiet sweep is polled less and less often, up to ten times the configured interval but never
# less than once a minute: a trial ending is noticed within a minute, while a long cloud sweep
# does not spend its API quota on polls that bring no news. A backend that can tell when it has
# news (`wait_for_change`, the local runner) is not polled blind at all.
MAX_POLL_INTERVAL_S = 60.0
# An interrupted sweep (see SweepState.interrupted) is resumed by the flow run that drives it, this
# many times a run, after these pauses (a database restarting, a disk being freed); after that it
# stays resumable, and the next run of the config resumes it.
RESUME_AFTER_S = (2.0, 10.0, 30.0)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: a bad config, an unplannable sweep or missing credentials won't heal on retry."""
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    return not isinstance(exc, ConfigError | PlanError | CredentialsError)


@task(name="choose-backend", cache_policy=NO_CACHE)
def choose_adapter(config: HpoConfig, backend: str | None = None) -> SweepAdapter:
    """The adapter for `backend` (default: tuning.backend), after it has planned the sweep.

    Planning first turns what the backend cannot express into an error before anything is paid for.
    """
    name = backend or config.tuning.backend
    adapter = get_adapter(name)
    adapter.plan(config)
    run_logger().info("backend %s can run this sweep", name)
    return adapter


# Retrying is safe: submit re-attaches to the sweep already started under the same name.
@task(name="submit-sweep", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10, retry_condition_fn=_transient)
def submit_sweep(adapter: SweepAdapter, config: HpoConfig) -> SweepRef:
    """Start the sweep, or re-attach to the one already running or finished under its name."""
    ref = adapter.submit(config)
    remember_sweep(adapter, ref, cancel_on_exit=config.tuning.cancel_on_flow_exit, config=config)
    where = ref.workdir or ref.cloud_id or ref.url or ""
    # A sweep with a directory here and a page elsewhere (a Ray sweep's dashboard): both are where to look.
    also = f" (look at it in {ref.url})" if ref.url and ref.url != where else ""
    run_logger().info("sweep %s on %s (new, or re-attached if it existed) %s%s", ref.name, ref.backend, where, also)
    return ref


# Retrying is safe: polling only reads, and the loop picks the sweep up where it is.
@task(
    name="wait-for-sweep",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 30, 60],
    retry_condition_fn=_transient,
)
def wait_for_sweep(adapter: SweepAdapter, ref: SweepRef, config: HpoConfig) -> SweepState:
    """Poll until the sweep ends. Each trial reaches MLflow as it ends (running ones as RUNNING
    runs), with a log line per finished trial, live progress and a progress artifact; polls back
    off while the sweep is quiet."""
    log = run_logger()
    metric = config.tuning.objective_metric
    initial = config.tuning.poll_interval_seconds
    backoff = Backoff(initial=initial, maximum=max(initial, min(initial * 10, MAX_POLL_INTERVAL_S)))
    artifact = SweepProgress(ref.name, config.tuning.max_jobs)
    terminal = TerminalProgress(config.tuning.max_jobs, config.objective, metric, say=log.info)
    recorder = LiveRecorder(config, ref, log)
    reported: set[str] = set()
    last_seen: tuple[Any, ...] | None = None
    ended = False
    resumes = 0
    try:
        while True:
            state = adapter.poll(ref)
            seen = _fingerprint(state)
            if seen != last_seen and not state.status.is_terminal:
                recorder.offer(state)  # the final state is recorded by the flow, plots and all
            news = [t for t in state.finished_trials if t.id not in reported]
            if news:
                terminal.clear()
            for trial in news:
                reported.add(trial.id)
                log.info("%s", describe_trial(trial, metric))
            terminal.update(state)
            artifact.update(len(reported), len(state.trials), state.status.value)
            if state.interrupted and resumes < len(RESUME_AFTER_S):
                # A fault outside the sweep (its runner killed by the OOM killer, its storage gone a
                # while): this flow run is alive, so it resumes the sweep instead of closing it.
                log.warning(
                    "sweep %s was interrupted (%s); resuming it in %g s (%d of %d)",
                    ref.name,
                    state.message,
                    RESUME_AFTER_S[resumes],
                    resumes + 1,
                    len(RESUME_AFTER_S),
                )
                time.sleep(RESUME_AFTER_S[resumes])
                resumes += 1
                try:
                    adapter.submit(config)
                except HpoFlowError as exc:  # the fault is still there (the database still down): poll, try again
                    log.warning("resuming sweep %s failed (%s)", ref.name, exc)
                continue
            if state.status.is_terminal:
                terminal.close()
                log.info(
                    "sweep %s ended %s with %d trials%s",
                    ref.name,
                    state.status.value,
                    len(state.trials),
                    f": {state.message}" if state.message else "",
                )
                ended = True
                return state
            pause = backoff.next(changed=seen != last_seen)
            last_seen = seen
            _pause(adapter, ref, pause)
    finally:
        terminal.close()
        # The final record must not race the live one (two child runs for one trial); a flow being
        # torn down waits a bounded time only.
        recorder.close(timeout=None if ended else 30)


def _fingerprint(state: SweepState) -> tuple[Any, ...]:
    """What a poll saw, for telling news from an unchanged sweep: statuses and curve lengths."""
    return (state.status, tuple((t.id, t.status, sum(len(c) for c in t.curves.values())) for t in state.trials))


def _pause(adapter: SweepAdapter, ref: SweepRef, seconds: float) -> None:
    """Wait until the next poll; a backend that can tell when it has news returns as soon as it has."""
    if isinstance(adapter, WaitsForChange):
        adapter.wait_for_change(ref, seconds)
    else:
        time.sleep(seconds)


def describe_trial(trial: Trial, objective_metric: str) -> str:
    """One line for one finished trial: status, objective, and the values it tried."""
    params = ", ".join(f"{k}={short(v)}" for k, v in redact(trial.params).items())
    result = f"no {objective_metric}" if trial.objective is None else f"{objective_metric}={short(trial.objective)}"
    reason = f" ({trial.failure_reason})" if trial.failure_reason else ""
    return f"trial {trial.id} {trial.status.value}{reason}: {result} [{params}]"


def short(value: Any) -> str:
    """A number as a person reads it in a log line (6 significant digits)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- stopping on exit


@dataclass
class _Driven:
    ref: SweepRef
    cancel_on_exit: bool
    adapter: SweepAdapter | None = None  # only in the process that submitted
    config: HpoConfig | None = None  # likewise: to record the stopped sweep in MLflow


_IN_PROCESS: dict[str, _Driven] = {}


def _variable_name(flow_run_id: str) -> str:
    return f"hpo_sweep_{flow_run_id}".replace("-", "_")


def _current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def remember_sweep(adapter: SweepAdapter, ref: SweepRef, cancel_on_exit: bool, config: HpoConfig | None = None) -> None:
    """Note which sweep the current flow run drives, for its cancellation and crash hooks."""
    run_id = _current_flow_run_id()
    if run_id is None:
        return
    _IN_PROCESS[run_id] = _Driven(ref=ref, cancel_on_exit=cancel_on_exit, adapter=adapter, config=config)
    from prefect.variables import Variable

    value = {"ref": asdict(ref), "cancel_on_flow_exit": cancel_on_exit}
    try:
        Variable.set(_variable_name(run_id), value, overwrite=True)
    except Exception as exc:  # best effort: the in-process copy still serves this process's hooks
        run_logger().warning(
            "could not store the sweep handle on the Prefect server (%s); a worker cancelling this run "
            "will not be able to stop sweep %s",
            exc,
            ref.name,
        )


def forget_sweep(flow_run_id: str | None = None) -> None:
    """Drop the note once the flow run no longer needs to stop its sweep on exit."""
    run_id = flow_run_id or _current_flow_run_id()
    if run_id is None:
        return
    _IN_PROCESS.pop(run_id, None)
    from prefect.variables import Variable

    # The server may already be gone: Ctrl-C stops a temporary one together with the flow.
    with contextlib.suppress(Exception):
        Variable.unset(_variable_name(run_id))


def _recall(flow_run_id: str) -> _Driven | None:
    driven = _IN_PROCESS.get(flow_run_id)
    if driven is not None:
        return driven
    from prefect.variables import Variable

    value = Variable.get(_variable_name(flow_run_id), default=None)
    if not isinstance(value, dict) or "ref" not in value:
        return None
    return _Driven(ref=SweepRef(**value["ref"]), cancel_on_exit=bool(value.get("cancel_on_flow_exit", True)))


def stop_driven_sweep(flow_run_id: str, log: RedactingLogger, why: str) -> SweepRef | None:
    """Cancel the sweep this flow run drove, unless tuning.cancel_on_flow_exit is false.

    Returns the ref of the sweep that was cancelled, or None when there was nothing to cancel.
    """
    driven = _recall(flow_run_id)
    if driven is None:
        log.info("flow run %s: no sweep to stop (none submitted yet, or already stopped)", why)
        return None
    ref = driven.ref
    if not driven.cancel_on_exit:
        log.warning(
            "flow run %s: leaving sweep %s running on %s (tuning.cancel_on_flow_exit is false); "
            "run the flow again with the same config to re-attach to it",
            why,
            ref.name,
            ref.backend,
        )
        forget_sweep(flow_run_id)
        return None
    adapter = driven.adapter or get_adapter(ref.backend)
    adapter.cancel(ref)
    log.warning("flow run %s: cancelled sweep %s on %s and its running trials", why, ref.name, ref.backend)
    forget_sweep(flow_run_id)
    if driven.config is not None:
        _record_stopped(adapter, ref, driven.config, log)
    return ref


def _record_stopped(adapter: SweepAdapter, ref: SweepRef, config: HpoConfig, log: RedactingLogger) -> None:
    """The finished trials are in MLflow already (recorded live); this adds the stopped ones and
    the sweep's end. Best effort: the flow is going down, and MLflow may be what brought it down."""
    from hpo_flow.tasks.tracking import record_sweep

    try:
        record_sweep(config, ref, _stopped_state(adapter, ref))
    except Exception as exc:
        log.warning("MLflow: could not record the end of the stopped sweep %s (%s)", ref.name, exc)


def _stopped_state(adapter: SweepAdapter, ref: SweepRef, wait_s: float = 10.0) -> SweepState:
    """The sweep's state once the cancel has taken; a cloud sweep can stay STOPPING for minutes, and
    the flow is going down: after `wait_s` it is recorded as stopped, which is what was asked of it."""
    deadline = time.monotonic() + wait_s
    state = adapter.poll(ref)
    while not state.status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.5)
        state = adapter.poll(ref)
    if state.status.is_terminal:
        return state
    trials = [t if t.status.is_terminal else replace(t, status=TrialStatus.STOPPED) for t in state.trials]
    return SweepState(status=SweepStatus.STOPPED, trials=trials, message=state.message or "cancelled by hpo-flow")


def stop_all_driven_sweeps(log: RedactingLogger, why: str) -> list[SweepRef]:
    """Stop every sweep this process still drives: for a process ending where no hook will run."""
    return [ref for run_id in list(_IN_PROCESS) if (ref := stop_driven_sweep(run_id, log, why)) is not None]
