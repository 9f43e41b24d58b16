"""One running trial's process and its output: launching it, reading its pipes, keeping its log.

The loop owns the selector; a `RunningTrial` registers its two pipes there, reads them in chunks
as they become readable, appends every byte to the trial's `output.log`, cuts lines, and hands
the metric values it finds back to the loop, which reports and prunes.
"""

from __future__ import annotations

import os
import re
import selectors
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import optuna

from hpo_flow.adapters.local.metrics import MetricReader
from hpo_flow.adapters.local.process import launch, trial_command, trial_environment
from hpo_flow.adapters.local.slots import Slot
from hpo_flow.adapters.local.state import SweepPaths, trial_id
from hpo_flow.adapters.spec import HpoConfig

_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
_READ_CHUNK = 65536


@dataclass
class RunningTrial:
    trial: optuna.trial.Trial
    params: dict[str, Any]
    slot: Slot
    proc: Any  # subprocess.Popen[bytes]
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
    kill_at: float | None = None
    live_written: float = 0.0
    live_dirty: bool = False

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
        self.log.write(data)
        lines = _LINE_SPLIT.split(self.partial.get(fd, b"") + data)
        self.partial[fd] = lines.pop()
        found: list[tuple[str, int, float]] = []
        for line in lines:
            found += self._line(fd, line)
        return found

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
        total = 0
        for _, _, files in os.walk(self.model_dir):
            total += len(files)
        return total


def start_trial(
    spec: HpoConfig, paths: SweepPaths, cwd: Path, trial: optuna.trial.Trial, params: dict[str, Any], slot: Slot
) -> RunningTrial:
    """Launch one trial in its slot, its output going to the trial directory's `output.log`."""
    number = trial.number
    tdir = paths.trial_dir(number)
    model_dir = tdir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)  # created empty: what the trial saves is its model
    argv = trial_command(spec, params)
    env = trial_environment(spec, trial_id(number), model_dir, slot.cuda_visible_devices)
    source_dir = (cwd / spec.training.source_dir).resolve()
    handle = open(tdir / "output.log", "ab", buffering=0)  # noqa: SIM115 - closed when the trial ends
    try:
        proc = launch(argv, source_dir, env)
    except BaseException:
        handle.close()
        raise
    timeout = spec.tuning.trial_timeout_seconds
    now = time.monotonic()
    return RunningTrial(
        trial=trial,
        params=params,
        slot=slot,
        proc=proc,
        log=handle,
        model_dir=model_dir,
        started=now,
        timeout_at=now + timeout if timeout else None,
        reader=MetricReader(spec.training.metric_definitions),
    )
