"""A sweep's progress in the terminal: one live line on a TTY, a plain line per change elsewhere.

    12/20 done | 2 running | 1 pruned | 0 failed | best accuracy=0.931 (trial-7) | 1:23 elapsed | ETA 0:41

The line is built by a pure function (`progress_line`), so what it says is tested without a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from hpo_flow.adapters.port import SweepState, TrialStatus, best_trial
from hpo_flow.adapters.spec import Objective


def progress_line(state: SweepState, total: int, objective: Objective, metric: str, elapsed: float) -> str:
    """Trials done of the budget, running, pruned and failed, the best so far, elapsed time and ETA."""
    counts = {s: 0 for s in TrialStatus}
    for trial in state.trials:
        counts[trial.status] += 1
    done = len(state.finished_trials)
    total = max(total, len(state.trials), 1)
    failed = counts[TrialStatus.FAILED] + counts[TrialStatus.STOPPED]
    parts = [
        f"{done}/{total} done",
        f"{counts[TrialStatus.RUNNING]} running",
        f"{counts[TrialStatus.PRUNED]} pruned",
        f"{failed} failed",
    ]
    best = best_trial(state.trials, objective)
    parts.append(
        f"best {metric}={best.objective:.6g} ({best.id})" if best and best.objective is not None else "no best yet"
    )
    parts.append(f"{_clock(elapsed)} elapsed")
    if state.status.is_terminal:
        parts.append(state.status.value.lower())
    elif done:
        # Trials so far took elapsed/done each on average, whatever the parallelism.
        parts.append(f"ETA {_clock(elapsed / done * (total - done))}")
    else:
        parts.append("ETA after the first trial")
    return " | ".join(parts)


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TerminalProgress:
    """Draws `progress_line` on `stream` in place when it is a TTY; otherwise says it once per change."""

    def __init__(
        self,
        total: int,
        objective: Objective,
        metric: str,
        say: Callable[[str], None],
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.total = total
        self.objective = objective
        self.metric = metric
        self.say = say  # where plain lines go when the stream is no terminal: the run's log
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self._shown = ""
        self._drawn = False

    def update(self, state: SweepState) -> None:
        line = progress_line(state, self.total, self.objective, self.metric, time.monotonic() - self.started)
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._drawn = True
        elif _without_clock(line) != _without_clock(self._shown):  # the clock alone is no news
            self.say(f"progress: {line}")
        self._shown = line

    def clear(self) -> None:
        """Take the live line away, so that a log line can be printed where it was."""
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        """Leave the last line on screen and move below it."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _without_clock(line: str) -> str:
    return " | ".join(p for p in line.split(" | ") if not p.endswith(" elapsed") and not p.startswith("ETA "))
