"""Metrics read live from a trial's output with the config's `metric_definitions` (SageMaker's way).

Each output line is matched against every definition; a definition that matches a line adds one
step to that metric's curve (steps numbered from 1). The objective's steps are what early stopping
reads. A match whose group is not a number is skipped: a regex such as `([0-9.]+)` can catch a
version string, and one odd line must not fail a trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hpo_flow.adapters.spec import MetricDefinition
from hpo_flow.adapters.user_regex import SlowRegex
from hpo_flow.report import matched_number

log = logging.getLogger("hpo_flow.local")


@dataclass
class MetricReader:
    definitions: list[MetricDefinition]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # metrics whose regex ran past its bound on some line

    def feed(self, line: str) -> list[tuple[str, int, float]]:
        """Record the metrics on one line; returns (metric, step, value) for each one found."""
        found: list[tuple[str, int, float]] = []
        for definition in self.definitions:
            name = definition.Name
            try:
                match = definition.search(line)
            except SlowRegex as exc:
                if name not in self.slow:  # once per trial and metric: the line is skipped, the trial goes on
                    log.warning("metric %s: %s; lines it cannot read in time are skipped", name, exc)
                    self.slow.add(name)
                continue
            value = matched_number(match)
            if value is None:
                continue
            curve = self.curves.setdefault(name, [])
            step = len(curve) + 1
            curve.append((step, value))
            found.append((name, step, value))
        return found

    def merge(self, name: str, points: list[tuple[int, float]]) -> list[tuple[str, int, float]]:
        """Points read elsewhere (the trial's own MLflow run), with the script's own steps: those
        past the curve's last step are added and returned; a new value at the last step replaces
        it (a script that logs without a step logs every value at step 0)."""
        curve = self.curves.setdefault(name, [])
        found: list[tuple[str, int, float]] = []
        for step, value in points:
            if curve and step <= curve[-1][0]:
                if step == curve[-1][0]:
                    curve[-1] = (step, value)
                continue
            curve.append((step, value))
            found.append((name, step, value))
        return found

    def last(self, name: str) -> float | None:
        curve = self.curves.get(name)
        return curve[-1][1] if curve else None

    def final_metrics(self) -> dict[str, float]:
        return {name: curve[-1][1] for name, curve in self.curves.items() if curve}
