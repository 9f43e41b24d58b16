"""`training`: what one trial runs, on every backend, and how its metrics are read."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
)

from adapters.spec.base import ParamName, ScalarValue, Strict, SubProblems


class MetricDefinition(Strict):
    """SageMaker's form: a metric is read from the trial's output with a regex and one group."""

    Name: str = Field(min_length=1, alias="Name")
    Regex: str = Field(min_length=1, alias="Regex")

    @field_validator("Regex")
    @classmethod
    def _compiles_with_group(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile ({exc}); escape special characters") from None
        if pattern.groups < 1:
            raise ValueError('regex has no capture group; wrap the number in parentheses, e.g. "accuracy: ([0-9.]+)"')
        return value

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.Regex)


class Training(Strict):
    entry_point: str = Field(min_length=1)
    source_dir: str = "."
    hyperparameters: dict[ParamName, ScalarValue] = Field(default_factory=dict)
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    python: str | None = None  # interpreter for local trials; default: the one running hpo-flow

    @field_validator("entry_point")
    @classmethod
    def _no_shell(cls, value: str) -> str:
        if any(ch in value for ch in ";|&$`\n") or " " in value.strip():
            raise ValueError(
                "entry_point is one script path, not a shell command; put arguments in training.hyperparameters"
            )
        return value

    @field_validator("metric_definitions")
    @classmethod
    def _unique_names(cls, value: list[MetricDefinition]) -> list[MetricDefinition]:
        seen: set[str] = set()
        problems = []
        for index, metric in enumerate(value):
            if metric.Name in seen:
                problems.append((f"{index}.Name", metric.Name, "defined twice; give each metric its own Name"))
            seen.add(metric.Name)
        if problems:
            raise SubProblems(problems)
        return value

    def metric(self, name: str) -> MetricDefinition | None:
        return next((m for m in self.metric_definitions if m.Name == name), None)
