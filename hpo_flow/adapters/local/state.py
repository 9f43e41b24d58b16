"""A local sweep's state: its directory, the records it keeps in the study, and their neutral reading.

Everything `poll` needs is in the study (any process, any machine can answer it): the sweep's
start and end records are study user attributes, and each trial carries its launch record
(`hpo.run`: own-unit params, where it ran, its log and model directory, its process group) and its
result (`hpo.result`: metrics, curves, failure or stop reason). The directory holds what is local
to this machine: the spec the runner reads, the runner's pid, lock and log, and the trial dirs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.port import SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig, parse_config

if TYPE_CHECKING:
    import optuna

RUNNER_MODULE = "hpo_flow.adapters.local.runner"

# study user attributes
START_ATTR = "hpo.started_at"  # epoch seconds of the sweep's first start: max_runtime_seconds counts from it
END_ATTR = "hpo.end"  # {"status", "message", "at"}: the sweep is over; nobody starts another trial
STOP_ATTR = "hpo.stop"  # {"reason", "at"}: cancel asked every worker to stop
# trial user attributes
RUN_ATTR = "hpo.run"
RESULT_ATTR = "hpo.result"
LIVE_ATTR = "hpo.live"  # curves of a running trial, refreshed every few seconds
RETRY_ATTR = "hpo.retry_of"
PARAMS_ATTR = "hpo.params"  # own-unit params of an enqueued retry, before it runs


@dataclass
class TrialRecord:
    """How a trial ended (its `hpo.result` attribute): what poll shows, limits count, recovery writes."""

    reason: str | None = None  # why it failed or was stopped; None when it completed or was pruned
    counts: bool = False  # uses a unit of max_jobs (its own doing); a dead runner or a stop does not
    stopped: bool = False  # stopped by a cancel, a deadline or the sweep's end: shown as STOPPED
    objective: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    exit_code: int | None = None
    duration_s: float | None = None
    model_files: int = 0
    model_path: str | None = None  # where the model is when not in HPO_MODEL_DIR (./outputs/model)
    worker: str | None = None

    def to_attr(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def of(cls, frozen: optuna.trial.FrozenTrial) -> TrialRecord:
        stored = frozen.user_attrs.get(RESULT_ATTR) or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in known and v is not None})


@dataclass(frozen=True)
class SweepPaths:
    root: Path

    @classmethod
    def for_spec(cls, spec: HpoConfig, cwd: str | Path | None = None) -> SweepPaths:
        base = Path(cwd) if cwd is not None else Path.cwd()
        return cls((base / spec.backends.local.workdir / spec.sweep_name()).resolve())

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def launch(self) -> Path:
        return self.root / "launch.json"

    @property
    def runner_log(self) -> Path:
        return self.root / "runner.log"

    @property
    def runner_pid(self) -> Path:
        return self.root / "runner.pid"

    @property
    def runner_lock(self) -> Path:
        return self.root / "runner.lock"

    @property
    def submit_lock(self) -> Path:
        return self.root / "submit.lock"

    @property
    def stop_file(self) -> Path:
        return self.root / "STOP"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    @property
    def owners(self) -> Path:
        return self.root / "owners"

    def trial_dir(self, number: int) -> Path:
        return self.trials / trial_id(number)


def workdir_problems(spec: HpoConfig, cwd: str | Path | None = None) -> list[Problem]:
    """Whether the sweep directory can be made under `backends.local.workdir`, said before anything starts."""
    workdir = spec.backends.local.workdir
    fix = "set backends.local.workdir to a directory this user can write, e.g. .hpo"
    try:
        probe = SweepPaths.for_spec(spec, cwd).root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return [Problem("backends.local.workdir", workdir, f"{probe} is a file, not a directory; {fix}")]
        if not os.access(probe, os.W_OK | os.X_OK):
            return [Problem("backends.local.workdir", workdir, f"{probe} is not writable; {fix}")]
        import tempfile

        os.rmdir(tempfile.mkdtemp(prefix=".hpo-probe-", dir=probe))  # /proc, a read-only mount: only trying tells
    except (OSError, ValueError) as exc:
        return [Problem("backends.local.workdir", workdir, f"is not a usable path ({exc}); {fix}")]
    return []


def trial_id(number: int) -> str:
    return f"trial-{number:04d}"


# --------------------------------------------------------------------------- spec and launch files


def write_spec(paths: SweepPaths, spec: HpoConfig, cwd: str | Path) -> None:
    """The spec the runner reads, with the directory relative paths in it are resolved against.

    It holds the config as written (a storage URL with its password included: the runner needs
    it), so it is readable by its owner only.
    """
    paths.root.mkdir(parents=True, exist_ok=True)
    body = spec.model_dump(mode="json", by_alias=True)
    _write_private(paths.spec, json.dumps(body, indent=1))  # key order is the order params are drawn in
    _write_private(paths.launch, json.dumps({"cwd": str(Path(cwd).resolve()), "config_hash": spec.config_hash()}))


def read_spec(paths: SweepPaths) -> tuple[HpoConfig, Path]:
    spec = parse_config(json.loads(paths.spec.read_text()))
    launch = json.loads(paths.launch.read_text()) if paths.launch.exists() else {}
    return spec, Path(launch.get("cwd") or paths.root)


def stored_config_hash(paths: SweepPaths) -> str | None:
    try:
        return json.loads(paths.launch.read_text()).get("config_hash")
    except (OSError, ValueError):
        return None


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- locks and liveness


class HeldLock:
    """An exclusive flock held for the life of a process; the kernel drops it when the process dies,
    even on `kill -9`, which is what makes it a trustworthy liveness signal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float = 5.0) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                # A liveness probe holds a shared lock for an instant; only a holder that stays is real.
                if time.monotonic() >= end:
                    os.close(fd)
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_held(path: str | Path) -> bool:
    """Whether a live process holds the lock file's exclusive lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_runner_pid(paths: SweepPaths) -> int | None:
    try:
        return int(json.loads(paths.runner_pid.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_runner_pid(paths: SweepPaths, pid: int) -> None:
    _write_private(paths.runner_pid, json.dumps({"pid": pid, "at": time.time()}))


def is_runner_process(pid: int, paths: SweepPaths) -> bool:
    """A live process that is this sweep's runner (not a stranger that inherited a recycled pid)."""
    from hpo_flow.adapters.local.process import process_alive, process_cmdline

    if not process_alive(pid):
        return False
    argv = process_cmdline(pid)
    return RUNNER_MODULE in argv and str(paths.root) in argv


def runner_alive(paths: SweepPaths) -> bool:
    """The sweep's runner is running, or has been started and is still importing (lock not yet taken)."""
    if lock_held(paths.runner_lock):
        return True
    pid = read_runner_pid(paths)
    return pid is not None and is_runner_process(pid, paths)


def last_log_lines(path: Path, count: int = 5) -> str:
    from hpo_flow.adapters.redact import redact_text

    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return redact_text(" | ".join(lines[-count:]))[-800:]
    return ""


# --------------------------------------------------------------------------- neutral reading


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def trial_status(frozen: optuna.trial.FrozenTrial) -> TrialStatus:
    from optuna.trial import TrialState

    state = frozen.state
    if state == TrialState.COMPLETE:
        return TrialStatus.COMPLETED
    if state == TrialState.PRUNED:
        return TrialStatus.PRUNED
    if state == TrialState.FAIL:
        return TrialStatus.STOPPED if TrialRecord.of(frozen).stopped else TrialStatus.FAILED
    if state == TrialState.RUNNING:
        # Claimed but not launched yet: no process, no run of its own to record it in (a record
        # made now would be a second run beside the one the trial is about to get).
        return TrialStatus.RUNNING if RUN_ATTR in frozen.user_attrs else TrialStatus.PENDING
    return TrialStatus.PENDING


def to_trial(frozen: optuna.trial.FrozenTrial, objective_metric: str) -> Trial:
    """One study trial as the port's neutral Trial."""
    run = frozen.user_attrs.get(RUN_ATTR) or {}
    result = TrialRecord.of(frozen)
    live = frozen.user_attrs.get(LIVE_ATTR) or {}
    status = trial_status(frozen)
    params = run.get("params") or frozen.user_attrs.get(PARAMS_ATTR) or dict(frozen.params)
    curves_raw: dict[str, list[list[float]]] = result.curves or live.get("curves") or {}
    curves = {name: [(int(step), float(value)) for step, value in points] for name, points in curves_raw.items()}
    if objective_metric not in curves and frozen.intermediate_values:
        curves[objective_metric] = sorted((int(s), float(v)) for s, v in frozen.intermediate_values.items())
    metrics = dict(result.metrics or {name: points[-1][1] for name, points in curves.items() if points})
    objective: float | None = None
    if status == TrialStatus.COMPLETED:
        objective = frozen.value
    elif status == TrialStatus.PRUNED:
        objective = frozen.value if frozen.value is not None else result.objective
    model_dir = result.model_path or run.get("model_dir")
    return Trial(
        id=trial_id(frozen.number),
        params=dict(params),
        status=status,
        objective=objective,
        metrics={k: float(v) for k, v in metrics.items()},
        curves=curves,
        model_uri=model_dir if model_dir and result.model_files > 0 else None,
        started_at=_dt(frozen.datetime_start),
        ended_at=_dt(frozen.datetime_complete),
        failure_reason=result.reason,
        log_path=run.get("log_path"),
        tracking_run_id=run.get("tracking_run"),
    )


def end_record(status: SweepStatus, message: str) -> dict[str, Any]:
    return {"status": status.value, "message": message, "at": time.time()}
