"""`training`: what one trial runs, on every backend, and how its metrics are read."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    Field,
    field_validator,
    model_validator,
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


def flag(name: str) -> str:
    """How a hyperparameter reaches the script, on every backend: `--name`, and `-C` for a one-letter
    name, because that is what SageMaker's training toolkit passes (sagemaker_training.mapping)."""
    return f"-{name}" if len(name) == 1 else f"--{name}"


INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class DataInput(Strict):
    """One data input, once for every backend: where its data is on each. The script finds it in
    HPO_INPUT_<NAME> and SM_CHANNEL_<NAME> (and as --<name> with training.input_flags) everywhere."""

    local: str | None = None  # a file or folder; relative to where hpo-flow runs
    sagemaker: str | None = None  # an s3:// prefix: the channel <name>
    azure: str | None = None  # azureml:<asset>:<version>, a URI or a path: the job input <name>

    @model_validator(mode="before")
    @classmethod
    def _one_place(cls, value: Any) -> Any:
        # a plain string is the same place on every backend (a URI that each of them reads)
        return {"local": value, "sagemaker": value, "azure": value} if isinstance(value, str) else value


def input_env_vars(name: str, path: str) -> dict[str, str]:
    """What a script sees of input `name` on every backend."""
    return {f"HPO_INPUT_{name.upper()}": path, f"SM_CHANNEL_{name.upper()}": path}


class Training(Strict):
    entry_point: str = Field(min_length=1)
    source_dir: str = "."
    hyperparameters: dict[ParamName, ScalarValue] = Field(default_factory=dict)
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    python: str | None = None  # interpreter for local trials; default: the one running hpo-flow
    inputs: dict[str, DataInput] = Field(default_factory=dict)
    input_flags: bool = False  # also pass each input's path as --<name> <path>, on every backend

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, DataInput]) -> dict[str, DataInput]:
        bad = [
            (
                name,
                name,
                "input names are letters, digits and _ (at most 64), starting with a letter or _: "
                "they become HPO_INPUT_<NAME>, a SageMaker channel and an Azure ML input",
            )
            for name in value
            if not INPUT_NAME.match(name)
        ]
        if bad:
            raise SubProblems(bad)
        return value

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

    @model_validator(mode="after")
    def _flags_distinct(self) -> Training:
        if self.input_flags:
            both = [n for n in self.inputs if n in self.hyperparameters]
            if both:
                raise SubProblems(
                    [(f"inputs.{n}", n, f"also a hyperparameter; both would be {flag(n)}; rename one") for n in both]
                )
        return self

    def metric(self, name: str) -> MetricDefinition | None:
        return next((m for m in self.metric_definitions if m.Name == name), None)
