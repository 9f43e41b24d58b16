"""The terminal progress line: what it says, and how it is drawn on a TTY and elsewhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from hpo_flow.adapters.port import SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import Objective
from hpo_flow.tasks.progress import TerminalProgress, progress_line

pytestmark = pytest.mark.unit


def _trial(i: int, status: TrialStatus, objective: float | None = None) -> Trial:
    return Trial(id=f"trial-{i}", params={}, status=status, objective=objective, started_at=datetime.now(UTC))


STATE = SweepState(
    SweepStatus.RUNNING,
    [
        _trial(0, TrialStatus.COMPLETED, 0.81),
        _trial(1, TrialStatus.PRUNED, 0.4),
        _trial(2, TrialStatus.FAILED),
        _trial(3, TrialStatus.COMPLETED, 0.93),
        _trial(4, TrialStatus.RUNNING),
        _trial(5, TrialStatus.RUNNING),
    ],
)


def test_the_line_counts_trials_names_the_best_and_estimates_the_rest() -> None:
    line = progress_line(STATE, 20, Objective.Maximize, "accuracy", elapsed=100)
    # 4 finished in 100 s: 25 s each on average, 16 to go
    assert line == (
        "4/20 done | 2 running | 1 pruned | 1 failed | best accuracy=0.93 (trial-3) | 1:40 elapsed | ETA 6:40"
    )


def test_minimising_picks_the_lowest_and_long_runs_show_hours() -> None:
    line = progress_line(STATE, 6, Objective.Minimize, "loss", elapsed=4000)
    assert "best loss=0.4 (trial-1)" in line and "1:06:40 elapsed" in line


def test_before_any_trial_ends_and_after_the_sweep() -> None:
    assert progress_line(SweepState(SweepStatus.PENDING), 5, Objective.Maximize, "acc", 3).endswith(
        "0/5 done | 0 running | 0 pruned | 0 failed | no best yet | 0:03 elapsed | ETA after the first trial"
    )
    ended = SweepState(SweepStatus.STOPPED, STATE.trials)
    assert progress_line(ended, 20, Objective.Maximize, "accuracy", 10).endswith("| 0:10 elapsed | stopped")


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    stream, said = io.StringIO(), []
    progress = TerminalProgress(20, Objective.Maximize, "accuracy", say=said.append, stream=stream, tty=True)
    progress.update(STATE)
    progress.update(STATE)
    progress.clear()  # a log line may be printed now
    progress.update(STATE)
    progress.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K4/20 done") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert said == []


def test_elsewhere_a_plain_line_per_change_goes_to_the_log() -> None:
    stream, said = io.StringIO(), []
    progress = TerminalProgress(20, Objective.Maximize, "accuracy", say=said.append, stream=stream, tty=False)
    progress.update(STATE)
    progress.update(STATE)  # nothing new but the clock: no second line
    progress.update(SweepState(SweepStatus.RUNNING, [*STATE.trials, _trial(6, TrialStatus.COMPLETED, 0.5)]))
    progress.close()
    assert stream.getvalue() == ""
    assert [line.split(" | ")[0] for line in said] == ["progress: 4/20 done", "progress: 5/20 done"]
