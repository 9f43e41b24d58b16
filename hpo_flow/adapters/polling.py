"""How often to ask a backend for news: back off while nothing changes, snap back when it does.

Neutral code shared by the flow's poll loop and the polling benchmarks, so that what the
benchmark measures is what users run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Poll interval that grows by `factor` on every unchanged poll, up to `maximum`."""

    initial: float
    maximum: float = 300.0
    factor: float = 1.5
    _current: float = 0.0

    def __post_init__(self) -> None:
        if self.initial <= 0:
            raise ValueError(f"initial poll interval must be > 0, got {self.initial}")
        self.maximum = max(self.maximum, self.initial)
        self._current = self.initial

    def next(self, changed: bool) -> float:
        """Seconds to wait before the next poll, given whether the last poll brought news."""
        self._current = self.initial if changed else min(self._current * self.factor, self.maximum)
        return self._current
