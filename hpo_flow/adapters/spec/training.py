"""`training`: what one trial runs, on every backend, and how its metrics are read."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.spec.base import ParamName, ScalarValue, Strict, SubProblems
from hpo_flow.report import GENERAL_REGEX_GROUP, format_number, input_vars, matched_number
from hpo_flow.toolkit_env import flag


class MetricDefinition(Strict):
    """SageMaker's form: a metric is read from the trial's output with a regex and one group."""

    Name: str = Field(min_length=1, alias="Name")
    Regex: str = Field(min_length=1, alias="Regex")

    @field_validator("Regex")
    @classmethod
    def _compiles_with_group(cls, value: str) -> str:
        from hpo_flow.adapters import user_regex

        try:
            pattern = re.compile(value)
            user_regex.compile_bounded(value)
        except (re.error, user_regex.regex.error) as exc:
            raise ValueError(f"regex does not compile ({exc}); escape special characters") from None
        if pattern.groups < 1:
            raise ValueError('regex has no capture group; wrap the number in parentheses, e.g. "accuracy: ([0-9.]+)"')
        try:
            user_regex.check(value)  # before any trial runs, not in the runner's every line
        except user_regex.SlowRegex as exc:
            raise ValueError(str(exc).replace(f"the regex {value!r} ", "", 1)) from None
        return value

    def search(self, line: str) -> Any:
        """This metric's match on one line of output, with bounded work (hpo_flow.adapters.user_regex)."""
        from hpo_flow.adapters import user_regex

        return user_regex.search(self.Regex, line)


INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class DataInput(Strict):
    """One data input, once for every backend: where its data is on each installed backend
    (`training.inputs.<input>.<backend>`; what each holds is its `BackendInfo.data_input`). The script
    finds it in HPO_INPUT_<NAME> and SM_CHANNEL_<NAME> (and as --<name> with training.input_flags)
    everywhere. A plain string is the same place on every backend (a URI each of them reads)."""

    model_config = ConfigDict(extra="allow")

    if TYPE_CHECKING:  # hpo-flow's own backends, for the type checker; the registry decides at runtime
        local: str | None
        sagemaker: str | None
        azure: str | None

    @model_validator(mode="before")
    @classmethod
    def _places(cls, value: Any) -> Any:
        from hpo_flow.adapters import registry

        known = registry.backends()
        if isinstance(value, str):
            return dict.fromkeys(known, value)
        if not isinstance(value, dict):
            return value  # pydantic says it must be a mapping
        problems = []
        for name, place in value.items():
            info = known.get(str(name))
            if info is None:
                problems.append((str(name), place, f"no such backend; {registry.choices_hint(str(name))}"))
            elif place is not None and not isinstance(place, str):
                problems.append((str(name), place, f"must be a string: {info.data_input}"))
        if problems:
            raise SubProblems(problems)
        return {name: value.get(name) for name in known}

    def written(self) -> str | dict[str, str]:
        """The input as the config says it, whichever other backends happen to be installed: one
        place for all, or the places it names."""
        places = self.__pydantic_extra__ or {}
        named = {name: place for name, place in places.items() if place is not None}
        if len(set(named.values())) == 1 and len(named) == len(places):
            return next(iter(named.values()))
        return named

    def on(self, backend: str) -> str | None:
        """Where this input's data is on `backend`; None when the config does not say."""
        return (self.__pydantic_extra__ or {}).get(backend)


def input_env_vars(name: str, path: str) -> dict[str, str]:
    """What a script sees of input `name` on every backend."""
    return dict.fromkeys(input_vars(name), path)


class Training(Strict):
    entry_point: str = Field(min_length=1)
    source_dir: str = "."
    hyperparameters: dict[ParamName, ScalarValue] = Field(default_factory=dict)
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    python: str | None = None  # interpreter for local trials; default: the one running hpo-flow
    inputs: dict[str, DataInput] = Field(default_factory=dict)
    input_flags: bool = False  # also pass each input's path as --<name> <path>, on every backend
    # The trial's command line as an Azure ML command writes it (hpo_flow.adapters.spec.arguments);
    # None: SageMaker's convention, `--name value` for every hyperparameter.
    arguments: list[str] | None = None

    @field_validator("arguments", mode="before")
    @classmethod
    def _split_arguments(cls, value: Any) -> Any:
        from hpo_flow.adapters.spec.arguments import split

        return split(value)

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
        if PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
            # One rule for every backend: SageMaker and Azure ML upload source_dir and nothing else.
            raise ValueError(
                "must be a path inside training.source_dir, relative to it and without '..': the cloud backends "
                "upload source_dir only, so a script outside it never reaches the trial; move the script into "
                "source_dir, or make source_dir the folder that holds both"
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
        if self.input_flags and self.arguments is not None:
            raise SubProblems(
                [
                    (
                        "input_flags",
                        True,
                        "training.arguments writes the whole command line; put each input in it as "
                        "--<flag> ${{inputs.<name>}} and remove input_flags",
                    )
                ]
            )
        if self.input_flags:
            both = [n for n in self.inputs if n in self.hyperparameters]
            if both:
                raise SubProblems(
                    [(f"inputs.{n}", n, f"also a hyperparameter; both would be {flag(n)}; rename one") for n in both]
                )
        return self

    def metric(self, name: str) -> MetricDefinition | None:
        return next((m for m in self.metric_definitions if m.Name == name), None)

    def report_warnings(self, objective: str) -> list[Problem]:
        """Where the objective's regex misreads the lines hpo_flow.report prints for it."""
        metric = self.metric(objective)
        if metric is None:
            return []
        index = self.metric_definitions.index(metric)
        path = f"training.metric_definitions.{index}.Regex"
        for sep in (": ", " = "):  # report()'s default, and seed 003's `loss = 0.12` (sep=" = ")
            lines = {value: f"{objective}{sep}{format_number(value)}" for value in _SAMPLES}
            if not any(metric.search(line) for line in lines.values()):
                continue  # the script prints its own format, not report()'s
            misread = [(line, _read(metric, line)) for value, line in lines.items() if _read(metric, line) != value]
            if misread:
                line, got = misread[0]
                return [
                    Problem(
                        path,
                        metric.Regex,
                        f"reads {got} from the line {line!r} that report() prints; use {_suggested(sep, objective)}",
                        warning=True,
                    )
                ]
            negative = f"{objective}{sep}{format_number(-0.25)}"
            if _read(metric, negative) != -0.25 and not _NON_NEGATIVE.search(objective):
                return [
                    Problem(
                        path,
                        metric.Regex,
                        f"cannot read a negative value ({negative!r}); if "
                        f"{objective} can be negative, use {_suggested(sep, objective)}",
                        warning=True,
                    )
                ]
            return []
        return []


# Values report() prints as 0.000042 and 1234567.0: what `.6g` once turned into 4.2e-05 and 1.23457e+06.
_SAMPLES = (0.000042, 1234567.0, 0.5, 3.0, 0.1 + 0.2)
# Metric names that are never negative; any other objective may be (a score, a reward, a log-likelihood).
_NON_NEGATIVE = re.compile(
    r"acc|loss|err|mse|mae|rmse|auc|f1|precision|recall|iou|map|perplexity|bleu|rouge|dice|time|count",
    re.IGNORECASE,
)


def _read(metric: MetricDefinition, line: str) -> float | None:
    return matched_number(metric.search(line))


def _suggested(sep: str, name: str) -> str:
    return f'"{re.escape(name)}{sep}{GENERAL_REGEX_GROUP}"'
