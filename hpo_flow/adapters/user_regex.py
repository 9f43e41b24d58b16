"""A user's regex (`training.metric_definitions`) meets text only with bounded work.

Python's `re` cannot be stopped: a pattern with nested quantifiers such as `^(([0-9a-z.: ]+)+)+$X`
backtracks for longer than the universe lasts on a 20-character line, and `hpo-flow validate`, `plan`
and the runner (which applies every definition to every line a trial prints) would hang with it.
The `regex` module runs the same syntax with a time limit per search (and cuts many such patterns
short by itself); a linear-time engine (RE2) would refuse the lookarounds and backreferences
SageMaker's and Python's regexes allow. Syntax is still checked by `re`, whose messages users see.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import regex

from hpo_flow.adapters.errors import HpoFlowError

# What one search of a line may take. Generous for any sane pattern on a long line (microseconds to
# a few milliseconds), far below what a person notices; a loaded 2-core machine still fits in it.
LINE_SECONDS = 0.25
# Lines validate tries a pattern on before any trial runs: what report() prints, and a long line of
# the characters training logs are made of, which is where nested quantifiers explode.
PROBE_LINES = (
    "accuracy: 0.5",
    "epoch 12/100 - loss: 0.2345 - accuracy: 0.8765 - val_loss: 0.3456 - val_accuracy: 0.8123 - lr: 0.001",
    "Train Epoch: 1 [59520/60000 (99%)] Loss: 0.123456 " * 4 + "!",
)


class SlowRegex(HpoFlowError):
    """A user's regex took longer than its bound on one line."""

    def __init__(self, pattern: str, line_length: int, seconds: float = LINE_SECONDS) -> None:
        self.pattern = pattern
        super().__init__(
            f"the regex {pattern!r} took more than {seconds:g} s on a line of {line_length} characters: "
            "it backtracks without end (nested quantifiers such as (a+)+, or a backreference after one); "
            "simplify it, e.g. 'loss: ([0-9.eE+-]+)'"
        )


@lru_cache(maxsize=256)
def compile_bounded(pattern: str) -> Any:
    """The pattern for `search`; raises `regex.error` if only `re` accepts it (rare: say so)."""
    return regex.compile(pattern)


def search(pattern: str, line: str, seconds: float = LINE_SECONDS) -> Any:
    """`re.search(pattern, line)` that gives up after `seconds` with `SlowRegex`."""
    try:
        return compile_bounded(pattern).search(line, timeout=seconds)
    except TimeoutError:
        raise SlowRegex(pattern, len(line), seconds) from None


def first_group(pattern: str, line: str, seconds: float = LINE_SECONDS) -> str | None:
    match = search(pattern, line, seconds)
    return None if match is None else match.group(1)


def check(pattern: str) -> None:
    """Raise SlowRegex if the pattern is too slow on the lines a training script prints."""
    for line in PROBE_LINES:
        search(pattern, line)
