"""A user's regex meets text only with bounded work (hpo_flow.adapters.user_regex): validate names
one that backtracks without end before any trial runs, and the runner skips (and says so, once)
a line a pattern cannot read in time, reading every other metric and line as before."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters import user_regex
from hpo_flow.adapters.errors import ConfigError
from hpo_flow.adapters.local.metrics import MetricReader
from hpo_flow.adapters.spec import MetricDefinition
from tests.helpers import config_dict, make_config, write_config

pytestmark = pytest.mark.unit

REVIEWERS = r"^(([0-9a-z.: ]+)+)+$X"  # Python's re never returns on a short line; the engine cuts it short
EXPLODES = r"^((.|..)+)\1+$"  # a backreference: every split is tried, no shortcut helps
EXPLODES_ON_LONG_RUNS = r"^((a|aa)+)\1+$"  # fast on a log line, explodes on a long run of one letter
HANG_S = 30  # what these tests rule out is a hang; any finite answer is far below this


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """`work()`, run in a thread; fails if it has not returned in `seconds`."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if errors:
        raise errors[0]
    return result[0]


def _validate(tmp_path: Path, regex: str) -> subprocess.CompletedProcess[str]:
    data = config_dict({"training.metric_definitions": [{"Name": "accuracy", "Regex": regex}]})
    path = write_config(tmp_path / "config.yaml", data)
    command = [sys.executable, "-m", "hpo_flow.cli", "validate", str(path)]
    return _within(HANG_S, lambda: subprocess.run(command, capture_output=True, text=True, check=False))


def test_validate_names_a_regex_that_backtracks_without_end_and_the_fix(tmp_path: Path) -> None:
    done = _validate(tmp_path, EXPLODES)
    assert done.returncode == 2, done.stdout + done.stderr
    line = next(x for x in done.stderr.splitlines() if "metric_definitions.0.Regex" in x)
    assert repr(EXPLODES) in line and "backtracks without end" in line and "simplify it" in line, line


def test_validate_returns_on_the_reviewers_regex(tmp_path: Path) -> None:
    done = _validate(tmp_path, REVIEWERS)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr


def test_the_config_model_refuses_it_at_its_key() -> None:
    with pytest.raises(ConfigError) as bad:
        make_config({"training.metric_definitions": [{"Name": "accuracy", "Regex": EXPLODES}]})
    assert [p.path for p in bad.value.problems] == ["training.metric_definitions.0.Regex"]


def test_a_sane_regex_reads_as_before() -> None:
    config = make_config()
    metric = config.training.metric(config.tuning.objective_metric)
    assert metric is not None
    assert metric.search("epoch 3 accuracy: 0.8125").group(1) == "0.8125"


def test_the_bound_holds_where_the_engine_has_no_shortcut() -> None:
    with pytest.raises(user_regex.SlowRegex) as slow:
        _within(HANG_S, lambda: user_regex.search(EXPLODES_ON_LONG_RUNS, "a" * 60 + "b", seconds=0.05))
    assert repr(EXPLODES_ON_LONG_RUNS) in str(slow.value)


def test_the_runner_skips_a_line_a_regex_cannot_read_in_time_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    stuck = MetricDefinition(Name="runs", Regex=EXPLODES_ON_LONG_RUNS)  # passes validate: fast on log lines
    accuracy = MetricDefinition(Name="accuracy", Regex=r"accuracy: ([0-9.]+)")
    reader = MetricReader([stuck, accuracy])
    flood = "a" * 60 + "b accuracy: 0.75"
    with caplog.at_level("WARNING", logger="hpo_flow.local"):
        found = _within(HANG_S, lambda: [reader.feed(flood) for _ in range(3)])
        reader.feed("accuracy: 0.8")
    assert found == [[("accuracy", 1, 0.75)], [("accuracy", 2, 0.75)], [("accuracy", 3, 0.75)]]
    assert reader.curves["accuracy"][-1] == (4, 0.8)
    warned = [r.getMessage() for r in caplog.records if "took more than" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("metric runs:"), warned  # once a trial, not once a line
