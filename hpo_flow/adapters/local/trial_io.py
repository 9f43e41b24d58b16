"""One running trial's process and its output: launching it, reading its pipes, keeping its log.

The loop owns the selector; a `RunningTrial` registers its two pipes there, reads them in chunks
as they become readable, appends every byte to the trial's `output.log`, cuts lines, and hands
the metric values it finds back to the loop, which reports and prunes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import optuna

from hpo_flow.adapters.local.metrics import MetricReader
from hpo_flow.adapters.local.process import kill_leftovers, launch, trial_command, trial_environment
from hpo_flow.adapters.local.slots import Slot
from hpo_flow.adapters.local.state import SweepPaths, trial_id
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.trial_tracking import TrialRun, TrialTracking
from hpo_flow.toolkit_env import folders

_log = logging.getLogger("hpo_flow.local")

_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
_READ_CHUNK = 65536
# A line longer than this is read for metrics by its first part only: a trial that prints a
# gigabyte without a newline must not hold it in memory (the log keeps what the cap allows).
_MAX_LINE = 1 << 20
LOG_BACKUP_SUFFIX = ".1"  # output.log.1: the older half of a trial's output once it passed half the cap


@dataclass
class RunningTrial:
    trial: optuna.trial.Trial
    params: dict[str, Any]
    slot: Slot
    proc: Any  # process.TrialProcess here, or a placement's (a Ray node's) with the same methods
    log: IO[bytes]
    model_dir: Path
    started: float  # monotonic
    timeout_at: float | None
    reader: MetricReader
    fds: dict[int, str] = field(default_factory=dict)  # open pipe fd -> "stdout" | "stderr"
    partial: dict[int, bytes] = field(default_factory=dict)
    last_stderr: str = ""
    pruned: bool = False
    timed_out: bool = False
    stop_reason: str | None = None
    retry: bool = False  # stopped because its worker is leaving: run it again elsewhere
    lost: str | None = None  # lost with its place (a Ray node) a second time: failed, not retried again
    kill_at: float | None = None
    live_written: float = 0.0
    live_dirty: bool = False
    log_cap: int = 64 * 2**20  # bytes of output kept on disk: output.log and output.log.1 together
    log_bytes: int = 0  # in the current output.log
    log_dropped: int = 0  # bytes of output a full disk kept out of output.log
    workdir: str = ""  # its working directory (`working_dir`)
    tracking_run: str | None = None  # its own MLflow run's id (hpo_flow.adapters.trial_tracking)
    next_tracking_read: float = 0.0  # monotonic: when to read that run's objective again

    @classmethod
    def begin(
        cls,
        spec: HpoConfig,
        trial: optuna.trial.Trial,
        params: dict[str, Any],
        slot: Slot,
        proc: Any,
        log: IO[bytes],
        model_dir: Path,
        run: TrialRun | None,
        workdir: Path,
    ) -> RunningTrial:
        """A trial whose process has just started: its clock, deadline, metric reader and log cap."""
        timeout = spec.tuning.trial_timeout_seconds
        now = time.monotonic()
        return cls(
            trial=trial,
            params=params,
            slot=slot,
            proc=proc,
            log=log,
            model_dir=model_dir,
            started=now,
            timeout_at=now + timeout if timeout else None,
            reader=MetricReader(spec.training.metric_definitions),
            log_cap=spec.backends.local.output_log_mb * 2**20,
            tracking_run=run.run_id if run is not None else None,
            workdir=str(workdir),
        )

    @property
    def number(self) -> int:
        return self.trial.number

    def watch(self, selector: selectors.BaseSelector) -> None:
        for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            fd = stream.fileno()
            self.fds[fd] = name
            selector.register(fd, selectors.EVENT_READ, self)

    def read(self, selector: selectors.BaseSelector, fd: int, draining: bool = False) -> list[tuple[str, int, float]]:
        """Read one chunk from a pipe; returns the metric values (name, step, value) on its complete lines.

        A closed pipe is unregistered; draining, an empty pipe counts as closed (an escaped
        grandchild may keep it open: take what it held, then let go).
        """
        try:
            data = os.read(fd, _READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            if not draining:
                return []
            data = b""
        except OSError:
            data = b""
        if not data:
            return self._close(selector, fd)
        self._keep(data)
        lines = _LINE_SPLIT.split(self.partial.get(fd, b"") + data)
        self.partial[fd] = lines.pop()[:_MAX_LINE]
        found: list[tuple[str, int, float]] = []
        for line in lines:
            found += self._line(fd, line)
        return found

    def _keep(self, data: bytes) -> None:
        """Append to output.log; past half the cap it becomes output.log.1 (replacing the older
        one) and a new output.log starts, so the newest output is always kept, within the cap."""
        if self.log_bytes + len(data) > self.log_cap // 2 and self.log_bytes > 0:
            path = Path(self.log.name)
            self.log.close()
            os.replace(path, path.with_name(path.name + LOG_BACKUP_SUFFIX))
            self.log = open(path, "ab", buffering=0)  # noqa: SIM115 - closed when the trial ends
            self.log_bytes = 0
        try:
            self.log.write(data)
        except OSError as exc:
            # A full disk must not stop the sweep over a log: the lines are still read for metrics
            # as they pass, only their copy on disk is lost (said once, in runner.log and here).
            if not self.log_dropped:
                _log.warning("%s: output.log not written (%s); its metrics are still read", trial_id(self.number), exc)
                with contextlib.suppress(OSError):
                    self.log.write(f"\n[hpo-flow: output lost here: {exc.strerror}]\n".encode())
            self.log_dropped += len(data)
            return
        self.log_bytes += len(data)

    def signal(self, sig: int) -> bool:
        """To the trial's whole process group, wherever it runs."""
        return bool(self.proc.signal_group(sig))

    def stop_everything(self) -> None:
        """Kill the trial's process group and whatever else carries its model dir: a daemon it
        double-forked into a session of its own is in no group of the trial's."""
        self.signal(signal.SIGKILL)
        kill_leftovers([str(self.model_dir)], grace=0)

    def drain(self, selector: selectors.BaseSelector) -> list[tuple[str, int, float]]:
        """Read what the pipes still hold after the trial exited."""
        found: list[tuple[str, int, float]] = []
        for fd in list(self.fds):
            while fd in self.fds:
                found += self.read(selector, fd, draining=True)
        return found

    def _close(self, selector: selectors.BaseSelector, fd: int) -> list[tuple[str, int, float]]:
        rest = self.partial.pop(fd, b"")
        found = self._line(fd, rest) if rest else []  # a last line without its newline still counts
        name = self.fds.pop(fd, None)
        if name is not None:
            selector.unregister(fd)
            (self.proc.stdout if name == "stdout" else self.proc.stderr).close()
        return found

    def _line(self, fd: int, raw: bytes) -> list[tuple[str, int, float]]:
        line = raw.decode("utf-8", errors="replace")
        if self.fds.get(fd) == "stderr" and line.strip():
            self.last_stderr = line.strip()[-1000:]
        return self.reader.feed(line)

    def curves(self) -> dict[str, list[list[float]]]:
        return {name: [[s, v] for s, v in points] for name, points in self.reader.curves.items()}

    def model_files(self) -> int:
        return count_files(self.model_dir)

    def saved_model(self) -> Path:
        """Where the trial's model is: HPO_MODEL_DIR, or ./outputs/model where a script written for
        Azure ML saved it there instead."""
        outputs = Path(self.workdir) / OUTPUTS_MODEL
        if self.workdir and not self.model_files() and count_files(outputs):
            return outputs
        return self.model_dir


OUTPUTS = "outputs"  # Azure ML's folder for what a job keeps: a script writes ./outputs/... unasked
OUTPUTS_MODEL = Path(OUTPUTS) / "model"  # where the Azure ML backend looks for a trial's model (HPO_MODEL_DIR there)


def working_dir(source_dir: Path, trial_dir: Path, sweep_root: Path) -> Path:
    """The trial's working directory: its own `code/` folder in the trial directory, holding a link to
    every entry of source_dir, as each cloud trial runs in a copy of the code of its own.

    A script finds its files where it expects them, and what it writes into its working directory
    (Azure ML's ./outputs, a stray mlflow.db, checkpoints) stays the trial's, where in the shared
    source_dir parallel trials would overwrite each other's. The sweep's own directory is left out
    when it lies inside source_dir."""
    code = trial_dir / "code"
    code.mkdir(exist_ok=True)
    for entry in os.scandir(source_dir):
        target = Path(entry.path)
        link = code / entry.name
        if entry.name == OUTPUTS or sweep_root == target or target in sweep_root.parents:
            continue
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=entry.is_dir())
    return code


def make_trial_dir(tdir: Path) -> Path:
    """A trial's folder with its empty model folder (what the trial saves there is its model) and the
    toolkit's SM_OUTPUT_DATA_DIR & co. (a script writes there unasked); returns the model folder."""
    model_dir = tdir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for folder in folders(tdir).values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    return model_dir


def start_trial(
    spec: HpoConfig,
    paths: SweepPaths,
    cwd: Path,
    trial: optuna.trial.Trial,
    params: dict[str, Any],
    slot: Slot,
    tracking: TrialTracking | None = None,
) -> RunningTrial:
    """Launch one trial in its slot, its output going to the trial directory's `output.log`, with an
    MLflow run of its own where `tracking` gives one."""
    number = trial.number
    tdir = paths.trial_dir(number)
    model_dir = make_trial_dir(tdir)
    argv = trial_command(spec, params)
    env = trial_environment(spec, trial_id(number), model_dir, slot.cuda_visible_devices, params=params)
    run = tracking.open(spec.sweep_name(), trial_id(number)) if tracking is not None else None
    if run is not None:
        env.update(run.env)
    source_dir = (cwd / spec.training.source_dir).resolve()
    workdir = working_dir(source_dir, tdir, paths.root)
    handle = open(tdir / "output.log", "ab", buffering=0)  # noqa: SIM115 - closed when the trial ends
    try:
        proc = launch(argv, workdir, env)
    except BaseException:
        handle.close()
        raise
    return RunningTrial.begin(spec, trial, params, slot, proc, handle, model_dir, run, workdir)


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))
