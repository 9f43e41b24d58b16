"""The config.yaml model: the one spec every adapter receives.

Loading is strict and reports every problem at once (see `parse_config`). Ranges written in
SageMaker's, Azure's or OpenVINO's vocabulary all become one `ParamRange` representation whose
bounds are in the parameter's own units; adapters convert from there.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from adapters.errors import ConfigError, Problem

Scalar = bool | int | float | str


def _scalar_value(value: Any) -> Any:
    """One clear message for a value that must be a plain scalar (pydantic would give one per union member)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}; quote it ('{value}') if the script expects that text")
    if value is None or not isinstance(value, bool | int | float | str):
        fix = "; put it in quotes" if _kind(value).startswith("a date") else ""
        raise ValueError(f"is {_kind(value)}; must be a number, a string or true/false{fix}")
    return value


# A hyperparameter value or a categorical choice: what `--name value` can carry.
ScalarValue = Annotated[Scalar, BeforeValidator(_scalar_value)]


def _param_name(value: Any) -> Any:
    # Names become `--name` flags, MLflow params and cloud hyperparameter keys: keep them plain.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", value):
        raise ValueError(
            "not a usable hyperparameter name; use letters, digits, _ . and -, starting with a letter or _"
        )
    return value


ParamName = Annotated[str, BeforeValidator(_param_name)]


class Strict(BaseModel):
    # allow_inf_nan=False: NaN or infinity as a bound, a slack or an interval is always a mistake.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _yaml_leniency(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        # A section whose keys are all commented out reads as null in YAML: that means "the defaults".
        if value is None and not field.is_required() and _is_container(field.annotation):
            return field.get_default(call_default_factory=True)
        # pydantic would read `true` as 1; for a count or a bound that is always a slip.
        if isinstance(value, bool) and _numeric(field.annotation):
            raise ValueError(f"must be a number, not {str(value).lower()}; write the number itself")
        return value


def _numeric(annotation: Any) -> bool:
    import types
    import typing

    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (int, float) for a in args)
    return False


def _is_container(annotation: Any) -> bool:
    import types
    import typing

    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return False  # `X | None`: null is a value of its own there
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, list) or (isinstance(origin, type) and issubclass(origin, BaseModel))


class SubProblems(ValueError):
    """Raised inside a validator to report several problems under sub-keys of one node."""

    def __init__(self, items: list[tuple[str, Any, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"{k}: {m}" for k, _, m in items))


# --------------------------------------------------------------------------- training


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


# --------------------------------------------------------------------------- ranges


class RangeType(StrEnum):
    """Canonical range types; every vocabulary is mapped onto these."""

    continuous = "continuous"
    integer = "integer"
    categorical = "categorical"
    normal = "normal"
    lognormal = "lognormal"


class Scaling(StrEnum):
    Auto = "Auto"
    Linear = "Linear"
    Logarithmic = "Logarithmic"
    ReverseLogarithmic = "ReverseLogarithmic"


# Azure ML / OpenVINO names -> (canonical type, scaling, whether the name implies a step)
_VOCABULARY: dict[str, tuple[RangeType, Scaling | None, bool]] = {
    "continuous": (RangeType.continuous, None, False),
    "integer": (RangeType.integer, None, False),
    "categorical": (RangeType.categorical, None, False),
    "choice": (RangeType.categorical, None, False),
    "randint": (RangeType.integer, Scaling.Linear, False),
    "uniform": (RangeType.continuous, Scaling.Linear, False),
    "quniform": (RangeType.continuous, Scaling.Linear, True),
    "loguniform": (RangeType.continuous, Scaling.Logarithmic, False),
    "qloguniform": (RangeType.continuous, Scaling.Logarithmic, True),
    "normal": (RangeType.normal, None, False),
    "qnormal": (RangeType.normal, None, True),
    "lognormal": (RangeType.lognormal, None, False),
    "qlognormal": (RangeType.lognormal, None, True),
}
RANGE_TYPE_NAMES = tuple(_VOCABULARY)


class ParamRange(Strict):
    """One hyperparameter's search range, in the parameter's own units.

    `written_as` keeps the vocabulary the user wrote (e.g. `qloguniform`) so that adapters can
    map back to the exact native construct and messages can quote the user's own words.
    """

    type: RangeType
    written_as: str = ""
    scaling_type: Scaling = Scaling.Auto
    min: float | None = None
    max: float | None = None
    step: float | None = Field(default=None, alias="step")
    log_base: float | None = None
    mu: float | None = None
    sigma: float | None = None
    values: list[ScalarValue] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_vocabulary(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        written = data.get("type")
        if isinstance(written, str) and written.strip().lower() in _VOCABULARY:
            name = written.strip().lower()
            canonical, scaling, _ = _VOCABULARY[name]
            data["type"] = canonical.value
            data.setdefault("written_as", name)
            if scaling is not None and "scaling_type" not in data:
                data["scaling_type"] = scaling.value
        elif "type" in data and written is not None:
            # Unknown type: no other check can mean anything yet, but unknown keys can still be named.
            close = _close(written, list(RANGE_TYPE_NAMES)) if isinstance(written, str) else None
            hint = f"; did you mean '{close}'?" if close else ""
            found = [("type", written, f"unknown range type; use one of {', '.join(RANGE_TYPE_NAMES)}{hint}")]
            known = set(cls.model_fields) | {"q"}
            for key in data:
                if key not in known:
                    found.append((str(key), data[key], _unknown_key_message(cls, [str(key)])))
            raise SubProblems(found)
        if "q" in data:
            if "step" in data:
                raise SubProblems([("q", data["q"], "q and step are the same thing; give only one of them")])
            data["step"] = data.pop("q")
        if isinstance(data.get("scaling_type"), str):
            by_lower = {s.value.lower(): s.value for s in Scaling}
            data["scaling_type"] = by_lower.get(data["scaling_type"].strip().lower(), data["scaling_type"])
        return data

    @model_validator(mode="after")
    def _coherent(self) -> ParamRange:
        problems: list[tuple[str, Any, str]] = []
        add = problems.append
        t = self.type
        kind = self.written_as or t.value
        log = self.scaling_type == Scaling.Logarithmic
        vocabulary = _VOCABULARY.get(self.written_as)
        if self.written_as and (vocabulary is None or vocabulary[0] != t):
            add(("written_as", self.written_as, f"does not match type {t.value}; remove written_as (hpo-flow sets it)"))
        elif vocabulary is not None:
            implied = vocabulary[1]
            if implied is not None and self.scaling_type not in (implied, Scaling.Auto):
                add(
                    (
                        "scaling_type",
                        self.scaling_type.value,
                        f"{kind} is already {implied.value}; remove scaling_type, or pick the type that matches",
                    )
                )
            if vocabulary[2] and self.step is None:
                add(("step", _missing(), f"{kind} needs a step (its q), e.g. step: 0.001; or use the type without q"))
        if t in (RangeType.continuous, RangeType.integer):
            for key in ("min", "max"):
                if getattr(self, key) is None:
                    add((key, _missing(), f"a {kind} range needs min and max; add {key}:"))
            for key in ("values", "mu", "sigma"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; remove it"))
            if self.min is not None and self.max is not None:
                self._check_bounds(self.min, self.max, add)
        elif t == RangeType.categorical:
            if not self.values:
                add(("values", self.values, "a categorical range needs a non-empty list of values, e.g. [16, 32, 64]"))
            else:
                seen: dict[str, int] = {}
                for index, v in enumerate(self.values):
                    # Trials receive `--name value`, so values that print the same are the same choice.
                    text = str(v).lower() if isinstance(v, bool) else str(v)
                    if text in seen:
                        add(
                            (
                                f"values.{index}",
                                v,
                                f"duplicate categorical value (same as values.{seen[text]}); list each value once",
                            )
                        )
                    seen.setdefault(text, index)
            for key in ("min", "max", "step", "mu", "sigma", "log_base"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; remove it"))
        else:  # normal family: mu and sigma of the normal (of the log, for lognormal)
            if self.mu is None:
                add(("mu", _missing(), f"a {kind} range needs mu (the mean); add mu:"))
            if self.sigma is None:
                add(("sigma", _missing(), f"a {kind} range needs sigma (the standard deviation); add sigma:"))
            elif self.sigma <= 0:
                add(("sigma", self.sigma, "must be > 0; give the standard deviation as a positive number"))
            for key in ("min", "max", "values", "log_base"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; use mu and sigma"))
            if self.step is not None and self.step <= 0:
                add(("step", self.step, "must be > 0; use a positive step such as 1, or remove it"))
        if t in (RangeType.categorical, RangeType.normal, RangeType.lognormal) and self.scaling_type != Scaling.Auto:
            add(("scaling_type", self.scaling_type.value, f"does not apply to a {kind} range; remove it"))
        if self.log_base is not None and t in (RangeType.continuous, RangeType.integer):
            if self.log_base <= 1:
                add(("log_base", self.log_base, "must be > 1; use 10, 2 or 2.718281828 (e)"))
            elif not log:
                add(("log_base", self.log_base, "only a logarithmic range has a log_base; remove it or use loguniform"))
        if problems:
            raise SubProblems(problems)
        return self

    def _check_bounds(self, low: float, high: float, add: Any) -> None:
        if low >= high:
            add(("min", low, f"must be less than max ({_num(high)}); lower min or raise max"))
            return
        if self.is_log and low <= 0:
            add(("min", low, "a logarithmic range needs min > 0; use a small positive bound such as 1e-6"))
        if self.scaling_type == Scaling.ReverseLogarithmic:
            if self.type == RangeType.integer:
                add(
                    (
                        "scaling_type",
                        "ReverseLogarithmic",
                        "only a continuous range can be ReverseLogarithmic; use Linear or Logarithmic",
                    )
                )
            elif low < 0:
                add(("min", low, "ReverseLogarithmic needs 0 <= min < max < 1; raise min to 0 or more"))
            elif high >= 1:
                add(("max", high, "ReverseLogarithmic needs 0 <= min < max < 1; lower max below 1 or use Logarithmic"))
        if self.type == RangeType.integer:
            for key, v in (("min", low), ("max", high)):
                if not float(v).is_integer():
                    whole = math.ceil(v) if key == "min" else math.floor(v)
                    add((key, v, f"an integer range needs whole-number bounds; use {whole}"))
        if self.step is not None:
            self._check_step(high - low, add)

    def _check_step(self, span: float, add: Any) -> None:
        if self.step is None:
            return
        if self.step <= 0:
            add(("step", self.step, "must be > 0; use a positive step such as 0.001, or remove it"))
        elif self.step > span:
            add(("step", self.step, f"larger than the range (max - min = {_num(span)}); use a step <= {_num(span)}"))
        elif self.type == RangeType.integer and not float(self.step).is_integer():
            add(("step", self.step, f"an integer range needs a whole-number step; use {max(1, round(self.step))}"))

    # ---- views adapters use

    @property
    def is_log(self) -> bool:
        return self.scaling_type == Scaling.Logarithmic

    @property
    def is_integral(self) -> bool:
        """True when every value the range can take is a whole number (integer, or q-steps on whole bounds)."""
        if self.type == RangeType.integer:
            return True
        if self.type == RangeType.continuous and self.step is not None:
            return all(float(v).is_integer() for v in (self.min, self.max, self.step) if v is not None)
        return False

    @property
    def is_finite(self) -> bool:
        """True when the range has a finite set of values (grid-searchable)."""
        return self.type in (RangeType.categorical, RangeType.integer) or (
            self.type == RangeType.continuous and self.step is not None
        )

    def grid_values(self) -> list[Scalar]:
        """Every value of a finite range, in order; raises ValueError for an infinite one."""
        if self.type == RangeType.categorical:
            return list(self.values or [])
        if not self.is_finite or self.min is None or self.max is None:
            raise ValueError("range is continuous without a step")
        step = self.step or 1
        count = math.floor((self.max - self.min) / step + 1e-9) + 1
        vals = [self.min + i * step for i in range(count)]
        if self.is_integral:
            return [round(v) for v in vals]
        return [round(v, 12) for v in vals]


def _num(value: float) -> str:
    # 12 significant digits: enough for any bound a user writes, without float noise like 0.09990000000000001.
    return str(int(value)) if float(value).is_integer() else f"{value:.12g}"


# --------------------------------------------------------------------------- tuning


class Strategy(StrEnum):
    Bayesian = "Bayesian"
    Random = "Random"
    Grid = "Grid"
    Hyperband = "Hyperband"


class Objective(StrEnum):
    Maximize = "Maximize"
    Minimize = "Minimize"

    @property
    def sign(self) -> int:
        return 1 if self is Objective.Maximize else -1


class Backend(StrEnum):
    local = "local"
    sagemaker = "sagemaker"
    azure = "azure"


class EarlyStoppingPolicy(StrEnum):
    off = "off"
    auto = "auto"
    bandit = "bandit"
    median = "median"
    truncation = "truncation"
    asha = "asha"


def _case_insensitive(enum: type[StrEnum], aliases: dict[str, str] | None = None) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) and enum is EarlyStoppingPolicy and value is False:
            return "off"  # YAML reads a bare `off` as False
        if not isinstance(value, str):
            return value
        lowered = value.strip().lower()
        if aliases and lowered in aliases:
            return aliases[lowered]
        for member in enum:
            if member.value.lower() == lowered:
                return member.value
        return value

    return convert


class EarlyStopping(Strict):
    """Early stopping of poor trials; Azure ML's policy semantics, Optuna's machinery locally."""

    policy: EarlyStoppingPolicy = EarlyStoppingPolicy.off
    slack_factor: float | None = Field(default=None, gt=0)
    slack_amount: float | None = Field(default=None, gt=0)
    evaluation_interval: int = Field(default=1, ge=1)
    delay_evaluation: int = Field(default=0, ge=0)
    truncation_percentage: int | None = Field(default=None, ge=1, le=99)
    min_resource: int = Field(default=1, ge=1)  # asha: steps before the first rung
    reduction_factor: int = Field(default=3, ge=2)  # asha: keep 1/reduction_factor at each rung

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_name(cls, value: Any) -> Any:
        aliases = {"none": "off", "false": "off", "median_stopping": "median", "truncation_selection": "truncation"}
        return _case_insensitive(EarlyStoppingPolicy, aliases)(value)

    @model_validator(mode="after")
    def _consistent(self) -> EarlyStopping:
        problems: list[tuple[str, Any, str]] = []
        if self.slack_factor is not None and self.slack_amount is not None:
            problems.append(
                ("slack_amount", self.slack_amount, "give slack_factor (relative) or slack_amount (absolute), not both")
            )
        uses_slack = self.slack_factor is not None or self.slack_amount is not None
        if self.policy == EarlyStoppingPolicy.bandit and not uses_slack:
            problems.append(
                (
                    "slack_factor",
                    _missing(),
                    "the bandit policy needs slack_factor or slack_amount; add slack_factor: 0.15",
                )
            )
        if self.policy != EarlyStoppingPolicy.bandit and uses_slack:
            key = "slack_factor" if self.slack_factor is not None else "slack_amount"
            problems.append(
                (
                    key,
                    getattr(self, key),
                    "only the bandit policy uses slack; remove it or set policy: bandit "
                    f"(policy is {self.policy.value})",
                )
            )
        if self.truncation_percentage is not None and self.policy != EarlyStoppingPolicy.truncation:
            problems.append(
                (
                    "truncation_percentage",
                    self.truncation_percentage,
                    f"only the truncation policy uses truncation_percentage (policy is {self.policy.value}); "
                    "remove it or set policy: truncation",
                )
            )
        if problems:
            raise SubProblems(problems)
        return self

    @property
    def effective_truncation_percentage(self) -> int:
        return self.truncation_percentage if self.truncation_percentage is not None else 10


class Hyperband(Strict):
    """Resource bounds for the Hyperband strategy, in steps of the objective's curve (epochs)."""

    min_resource: int = Field(default=1, ge=1)
    max_resource: int | None = Field(default=None, ge=1)
    reduction_factor: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _ordered(self) -> Hyperband:
        if self.max_resource is not None and self.max_resource <= self.min_resource:
            raise SubProblems(
                [
                    (
                        "max_resource",
                        self.max_resource,
                        f"must be greater than min_resource ({self.min_resource}); raise it or lower min_resource",
                    )
                ]
            )
        return self


class CompletionCriteria(Strict):
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = Field(default=None, ge=1)
    convergence_detected: bool = False  # SageMaker's CompleteOnConvergence


class WarmStart(Strict):
    parents: list[str] = Field(min_length=1)
    type: Literal["IdenticalDataAndAlgorithm", "TransferLearning"] = "IdenticalDataAndAlgorithm"


class Tuning(Strict):
    enabled: bool = True
    update_config: bool = False
    backend: Backend = Backend.local
    strategy: Strategy = Strategy.Bayesian
    max_jobs: int = Field(default=10, ge=1)
    max_parallel_jobs: int = Field(default=1, ge=1)
    objective_metric: str = Field(min_length=1)
    objective_type: Objective = Objective.Maximize
    base_tuning_job_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    # fix the sweep's name instead of deriving it from the config; used verbatim, so it must suit every backend
    sweep_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9](?:-*[A-Za-z0-9])*$")
    max_runtime_seconds: int | None = Field(default=None, ge=1)
    trial_timeout_seconds: int | None = Field(default=None, ge=1)
    random_seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    max_failed_trials: int | None = Field(default=None, ge=1)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    cancel_on_flow_exit: bool = True  # a cancelled or crashed flow stops its sweep
    completion_criteria: CompletionCriteria | None = None
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    hyperband: Hyperband = Field(default_factory=Hyperband)
    warm_start: WarmStart | None = None
    hyperparameter_ranges: dict[ParamName, ParamRange] = Field(min_length=1)

    @field_validator("strategy", "objective_type", "backend", mode="before")
    @classmethod
    def _enum_names(cls, value: Any, info: Any) -> Any:
        aliases = {"max": "Maximize", "min": "Minimize", "maximise": "Maximize", "minimise": "Minimize"}
        enum = {"strategy": Strategy, "objective_type": Objective, "backend": Backend}[info.field_name]
        return _case_insensitive(enum, aliases if enum is Objective else None)(value)

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None or value is False:
            return {"policy": "off"}
        if value is True:
            return {"policy": "auto"}
        if isinstance(value, str):
            return {"policy": value}
        return value


# --------------------------------------------------------------------------- backends


class LocalBackend(Strict):
    gpus: Literal["auto"] | list[int] | None = "auto"  # "auto": nvidia-smi; []/null: CPU slots
    gpus_per_trial: int = Field(default=1, ge=1)
    trials_per_gpu: int = Field(default=1, ge=1)
    storage: str | None = None  # an SQLAlchemy URL shared by several workers; default: a file in workdir
    workdir: str = ".hpo"
    kill_grace_seconds: float = Field(default=10.0, ge=0)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_list(cls, value: Any) -> Any:
        expected = "auto (every GPU nvidia-smi lists), none (CPU slots only) or a list of GPU indexes such as [0, 1]"
        if value is None or value == []:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("auto", "all"):
                return "auto"
            if text in ("none", "cpu", ""):
                return None
            if re.fullmatch(r"\d+(\s*,\s*\d+)*", text):  # CUDA_VISIBLE_DEVICES style: "0,1"
                value = [int(part) for part in text.split(",")]
            else:
                raise ValueError(f"must be {expected}")
        if not isinstance(value, list):
            raise ValueError(f"must be {expected}")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            raise ValueError("GPU indexes are whole numbers >= 0, as nvidia-smi numbers them; e.g. [0, 1]")
        if len(set(value)) != len(value):
            raise ValueError("lists a GPU more than once; list each index once")
        return value

    @model_validator(mode="after")
    def _fits(self) -> LocalBackend:
        if isinstance(self.gpus, list) and self.gpus and self.gpus_per_trial > len(self.gpus):
            raise SubProblems(
                [
                    (
                        "gpus_per_trial",
                        self.gpus_per_trial,
                        f"more than the {len(self.gpus)} GPUs listed in gpus; lower it or list more GPUs",
                    )
                ]
            )
        if self.gpus_per_trial > 1 and self.trials_per_gpu > 1:
            raise SubProblems(
                [
                    (
                        "trials_per_gpu",
                        self.trials_per_gpu,
                        "share GPUs between trials or give a trial several GPUs, not both; set one of them to 1",
                    )
                ]
            )
        return self


class SageMakerBackend(Strict):
    role: str | None = None
    image_uri: str | None = None
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1)
    volume_size_gb: int = Field(default=30, ge=1)
    max_run_seconds: int | None = Field(default=None, ge=1)
    output_path: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    region: str | None = None
    use_spot: bool = False
    max_wait_seconds: int | None = Field(default=None, ge=1)
    checkpoint_s3_uri: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    subnets: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    volume_kms_key_id: str | None = None
    output_kms_key_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    credentials_block: str | None = None  # name of a prefect-aws AwsCredentials block

    @model_validator(mode="after")
    def _spot(self) -> SageMakerBackend:
        if self.max_wait_seconds is not None and not self.use_spot:
            raise SubProblems(
                [
                    (
                        "max_wait_seconds",
                        self.max_wait_seconds,
                        "only used with use_spot: true; set use_spot: true or remove it",
                    )
                ]
            )
        return self


class AzureBackend(Strict):
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    compute: str | None = None
    environment: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    instance_count: int = Field(default=1, ge=1)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    experiment_name: str | None = None  # default: project
    tags: dict[str, str] = Field(default_factory=dict)
    credentials_block: str | None = None  # name of a prefect-azure credentials block


class Backends(Strict):
    local: LocalBackend = Field(default_factory=LocalBackend)
    sagemaker: SageMakerBackend | None = None
    azure: AzureBackend | None = None


class MlflowSettings(Strict):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None
    registered_model: str | None = None
    alias: str = Field(default="challenger", pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")


# --------------------------------------------------------------------------- root


class HpoConfig(Strict):
    project: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    training: Training
    tuning: Tuning
    backends: Backends = Field(default_factory=Backends)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)

    @model_validator(mode="after")
    def _cross_checks(self) -> HpoConfig:
        problems = cross_problems(self.model_dump(by_alias=True, mode="json"))
        if problems:
            raise ConfigError(problems)
        return self

    # ---- derived values every layer shares

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.project

    @property
    def registered_model_name(self) -> str:
        return self.mlflow.registered_model or self.project

    @property
    def objective(self) -> Objective:
        return self.tuning.objective_type

    def fixed_hyperparameters(self) -> dict[str, Scalar]:
        """Hyperparameters passed unchanged to every trial: the tuned ones are left out."""
        tuned = self.tuning.hyperparameter_ranges
        return {k: v for k, v in self.training.hyperparameters.items() if k not in tuned}

    def config_hash(self) -> str:
        """Hash of everything that defines the sweep, and nothing write-back changes."""
        body = self.model_dump(mode="json", by_alias=True)
        body["training"]["hyperparameters"] = self.fixed_hyperparameters()
        for key in ("enabled", "update_config", "poll_interval_seconds", "cancel_on_flow_exit"):
            body["tuning"].pop(key, None)
        body.pop("mlflow", None)
        blob = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:10]

    def sweep_name(self, max_length: int = 63) -> str:
        """Deterministic name of this config's sweep: re-running the same config re-attaches to it."""
        if self.tuning.sweep_name:
            return self.tuning.sweep_name[:max_length].rstrip("-")
        base = re.sub(r"[^A-Za-z0-9-]+", "-", self.tuning.base_tuning_job_name or self.project).strip("-")
        digest = self.config_hash()[:8]
        base = base[: max(1, max_length - len(digest) - 1)].rstrip("-")
        return f"{base}-{digest}"

    def warnings(self) -> list[Problem]:
        found: list[Problem] = []
        t = self.tuning
        if t.max_parallel_jobs > t.max_jobs:
            found.append(
                Problem(
                    "tuning.max_parallel_jobs",
                    t.max_parallel_jobs,
                    f"more than max_jobs ({t.max_jobs}); only {t.max_jobs} will run at once",
                    warning=True,
                )
            )
        for name, r in t.hyperparameter_ranges.items():
            if r.step is None or r.min is None or r.max is None:
                continue
            steps = (r.max - r.min) / r.step
            if abs(steps - round(steps)) > 1e-6 * max(1.0, abs(steps)):
                top = r.min + math.floor(steps + 1e-9) * r.step
                found.append(
                    Problem(
                        f"tuning.hyperparameter_ranges.{name}.max",
                        r.max,
                        f"not reachable from min in steps of {_num(r.step)}; the largest value tried is {_num(top)}",
                        warning=True,
                    )
                )
        return _masked(found)


def cross_problems(data: Any) -> list[Problem]:
    """Checks that span sections. Defensive: runs on raw YAML too, so that a config with
    type errors elsewhere still gets these reported in the same pass."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return problems
    training = data.get("training") if isinstance(data.get("training"), dict) else {}
    tuning = data.get("tuning") if isinstance(data.get("tuning"), dict) else {}
    defs = training.get("metric_definitions")
    names = [d.get("Name") for d in defs if isinstance(d, dict)] if isinstance(defs, list) else None
    objective = tuning.get("objective_metric")
    if isinstance(objective, str) and names is not None and objective not in names:
        close = _close(objective, [n for n in names if isinstance(n, str)])
        hint = f"did you mean '{close}'? Or add" if close else "add"
        problems.append(
            Problem(
                "tuning.objective_metric",
                objective,
                f"no metric definition has this Name; {hint} "
                f'{{Name: {objective}, Regex: "{objective}: ([0-9.]+)"}} to training.metric_definitions',
            )
        )
    strategy = tuning.get("strategy")
    ranges = tuning.get("hyperparameter_ranges")
    if isinstance(strategy, str) and strategy.strip().lower() == "grid" and isinstance(ranges, dict):
        for name, spec in ranges.items():
            if not isinstance(spec, dict):
                continue
            kind = str(spec.get("type", "")).strip().lower()
            canonical = _VOCABULARY.get(kind, (None,))[0]
            has_step = spec.get("step") is not None or spec.get("q") is not None
            if canonical == RangeType.continuous and not has_step:
                message = "Grid needs a finite set of values; give this range a step, or make it categorical or integer"
            elif canonical in (RangeType.normal, RangeType.lognormal):
                message = "Grid cannot enumerate a normal distribution; list the values to try as a categorical range"
            else:
                continue
            problems.append(Problem(f"tuning.hyperparameter_ranges.{name}.type", spec.get("type"), message))
    return problems


# --------------------------------------------------------------------------- loading


_SEED_STYLE_TOP = {"tuning_config"}


def parse_config(data: Any) -> HpoConfig:
    """Validate a YAML tree; raise ConfigError with every problem found."""
    if data is None:
        raise ConfigError([Problem("", _missing(), "the config is empty; it needs project, training and tuning")])
    if not isinstance(data, dict):
        raise ConfigError(
            [
                Problem(
                    "",
                    data,
                    f"the config is {_kind(data)}; it must be a YAML mapping with project, training and tuning keys",
                )
            ]
        )
    data, unwrap_problems = _unwrap_seed_style(data)
    try:
        config = HpoConfig.model_validate(data)
    except ValidationError as exc:
        problems = unwrap_problems + translate_errors(exc, HpoConfig, data) + cross_problems(data)
        raise ConfigError(_masked(_dedupe(problems))) from None
    if unwrap_problems:
        raise ConfigError(_masked(unwrap_problems))
    return config


def _unwrap_seed_style(data: dict[Any, Any]) -> tuple[dict[Any, Any], list[Problem]]:
    """Seed 000 keeps its tuning block as `tuning_config: {tuning: {...}}`; lift what it holds to the top."""
    if "tuning_config" not in data:
        return data, []
    inner = data["tuning_config"]
    if not isinstance(inner, dict):
        return {k: v for k, v in data.items() if k != "tuning_config"}, [
            Problem("tuning_config", inner, "must be a mapping that holds `tuning:`, as in seed 000")
        ]
    problems: list[Problem] = []
    merged = {k: v for k, v in data.items() if k != "tuning_config"}
    for key, value in inner.items():
        if key in merged:
            problems.append(
                Problem(f"tuning_config.{key}", _missing(), f"'{key}' is also given at the top level; keep one of them")
            )
        elif key not in HpoConfig.model_fields:
            problems.append(Problem(f"tuning_config.{key}", value, _unknown_key_message(HpoConfig, [str(key)])))
        else:
            merged[key] = value
    return merged, problems


def load_config(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> HpoConfig:
    """Read and validate config.yaml; every failure is a ConfigError naming the file and key.

    `overrides` are dotted keys (`tuning.max_jobs=4` strings, or a mapping) applied before validation.
    """
    data, duplicates = _read_yaml_checked(path)
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        config = parse_config(data)
    except ConfigError as exc:
        raise ConfigError(duplicates + exc.problems) from None
    if duplicates:
        raise ConfigError(duplicates)
    return config


def apply_overrides(data: Any, overrides: dict[str, Any] | list[str]) -> Any:
    """Set dotted keys in a YAML tree; string values are read as YAML scalars (`4` is an int)."""
    import copy

    import yaml

    if isinstance(overrides, list):
        pairs: dict[str, Any] = {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError([Problem("--set", item, "expected KEY=VALUE, e.g. tuning.max_jobs=4")])
            try:
                pairs[key.strip()] = yaml.load(raw, Loader=_loader()) if raw.strip() else ""
            except yaml.YAMLError:
                pairs[key.strip()] = raw
        overrides = pairs
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return data


def read_yaml(path: str | Path) -> Any:
    """The YAML tree of a config file; a ConfigError (with the line) for anything that is not valid YAML."""
    data, duplicates = _read_yaml_checked(path)
    if duplicates:
        raise ConfigError(duplicates)
    return data


def _read_yaml_checked(path: str | Path) -> tuple[Any, list[Problem]]:
    """Parse a config file; also return its duplicate keys (YAML would silently keep the last one)."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise ConfigError([Problem(str(p), _missing(), "is a directory; pass the path of the config.yaml file in it")])
    if not p.is_file():
        raise ConfigError([Problem(str(p), _missing(), "file not found; pass the path of your config.yaml")])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(str(p), _missing(), f"cannot read the file ({exc}); save it as UTF-8 text")
        raise ConfigError([problem]) from None
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(node, p)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"line {line}, column {mark.column + 1}" if mark else "an unknown position"
        what = exc.problem or exc.context or "invalid YAML"
        hint = _yaml_hint(text) if "constructor" not in what else "remove the !!tag; a config is plain YAML"
        raise ConfigError(
            [Problem(f"{p}:{line or '?'}", _missing(), f"YAML syntax error at {where}: {what}; {hint}")]
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        what = " ".join(str(exc).split())  # one line, whatever the parser's message looks like
        raise ConfigError([Problem(str(p), _missing(), f"not valid YAML ({what}); check the file's syntax")]) from None
    finally:
        loader.dispose()
    return data, duplicates


def _yaml_hint(text: str) -> str:
    assignment = re.search(r"^\s*([A-Za-z_]\w*)\s*=\s*[{\[]", text, re.MULTILINE)
    if assignment:
        name = assignment.group(1)
        return f"this looks like Python (`{name} = ...`); write `{name}:` and keep the rest, or use plain YAML keys"
    if "\t" in text:
        return "YAML does not allow tabs for indentation; indent with spaces"
    return "check the indentation and quoting on that line"


def load_yaml(text: str) -> Any:
    """YAML text read exactly as `load_config` reads a config file (YAML 1.2 numbers: `1e-3` is a float)."""
    import yaml

    return yaml.load(text, Loader=_loader())  # _loader() is a SafeLoader subclass: no arbitrary objects


_LOADER: Any = None


def _loader() -> Any:
    """PyYAML's safe loader, reading numbers as YAML 1.2 does (`1e-3` is a float, not a string)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        # libyaml's parser when PyYAML has it (about 10x faster); the same safe constructor either way.
        class ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
            pass

        ConfigLoader.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
            list("-+0123456789"),
        )
        _LOADER = ConfigLoader
    return _LOADER


def _duplicate_keys(node: Any, path: Path, prefix: str = "", visited: set[int] | None = None) -> list[Problem]:
    import yaml

    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias: its anchor was checked already (and this stops self-references)
        return []
    visited.add(id(node))
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key in seen:
                    found.append(
                        Problem(
                            dotted,
                            _missing(),
                            f"given twice ({path.name} lines {seen[key]} and {line}); YAML keeps only the last one, "
                            "so delete one of them",
                        )
                    )
                else:
                    seen[key] = line
            found.extend(_duplicate_keys(value_node, path, dotted, visited))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, path, f"{prefix}.{index}" if prefix else str(index), visited))
    return found


def _missing() -> Any:
    from adapters.errors import MISSING

    return MISSING


def _masked(problems: list[Problem]) -> list[Problem]:
    """Problems whose values are safe to print: secret-looking keys masked, URL passwords removed."""
    from dataclasses import replace

    from adapters.redact import MASK, is_secret_key

    out = []
    for p in problems:
        secret = any(is_secret_key(part) for part in p.path.split("."))
        value = MASK if secret and p.value is not _missing() else _safe_value(p.value)
        # One problem, one line: a key may hold a newline or another line separator.
        path = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in p.path)
        out.append(replace(p, path=path, value=value, message=" ".join(p.message.split())))
    return out


def _safe_value(value: Any, depth: int = 0) -> Any:
    """`adapters.redact.redact` for a value from YAML, which can be deep or even refer to itself (anchors)."""
    from adapters.redact import MASK, is_secret_key, redact_text

    if depth > 3 and isinstance(value, dict | list | tuple):
        return "..."
    if isinstance(value, dict):
        return {k: MASK if is_secret_key(str(k)) else _safe_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_value(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out: list[Problem] = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _kind(value: Any) -> str:
    import datetime

    if value is None:
        return "empty (null)"
    if isinstance(value, datetime.date):
        return "a date (YAML reads 2024-01-01 as one)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, set):
        return "a set"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


# --------------------------------------------------------------------------- error translation

# Keys users bring from the tools in seeds/ (Azure HyperDrive, OpenVINO, Syne Tune, SageMaker's
# Python arguments), mapped to the key that means the same here.
_FOREIGN_KEYS: dict[str, str] = {
    "max_total_runs": "max_jobs",
    "max_trials": "max_jobs",
    "n_trials": "max_jobs",
    "num_samples": "max_jobs",
    "max_concurrent_runs": "max_parallel_jobs",
    "max_concurrent_trials": "max_parallel_jobs",
    "n_workers": "max_parallel_jobs",
    "primary_metric_name": "objective_metric",
    "objective_metric_name": "objective_metric",
    "metric": "objective_metric",
    "primary_metric_goal": "objective_type",
    "mode": "objective_type",
    "goal": "objective_type",
    "hp_space": "hyperparameter_ranges",
    "search_space": "hyperparameter_ranges",
    "config_space": "hyperparameter_ranges",
    "search_algorithm": "strategy",
    "sampling_algorithm": "strategy",
    "sampler": "strategy",
    "early_termination_policy": "early_stopping",
    "early_termination": "early_stopping",
    "pruner": "early_stopping",
    "max_wallclock_time": "max_runtime_seconds",
    "max_duration_minutes": "max_runtime_seconds",
    "timeout": "max_runtime_seconds",
    "time_budget": "max_runtime_seconds",
    "base_job_name": "base_tuning_job_name",
    "metrics": "metric_definitions",
    "minimum_resource": "min_resource",
    "maximum_resource": "max_resource",
    "choices": "values",
    "param_type": "type",
    "categories": "values",
    "lower": "min",
    "upper": "max",
    "low": "min",
    "high": "max",
    "minimum": "min",
    "maximum": "max",
    "base": "log_base",
    "scaling": "scaling_type",
    "scale": "scaling_type",
    "mean": "mu",
    "std": "sigma",
    "stddev": "sigma",
}

# What to write when a required key is missing.
_REQUIRED_EXAMPLES: dict[str, str] = {
    "project": "project: my-model",
    "training": "training: {entry_point: train.py, metric_definitions: [...]}",
    "tuning": "tuning: {objective_metric: accuracy, hyperparameter_ranges: {...}}",
    "entry_point": "entry_point: train.py",
    "objective_metric": "objective_metric: accuracy",
    "hyperparameter_ranges": "hyperparameter_ranges: {lr: {type: continuous, min: 0.0001, max: 0.1}}",
    "type": "type: continuous (or integer, categorical, uniform, choice, ...)",
    "Name": "Name: accuracy",
    "Regex": 'Regex: "accuracy: ([0-9.]+)"',
    "parents": "parents: [previous-sweep-name]",
}

# What a pattern-checked string may contain, by field name.
_PATTERN_RULES: dict[str, str] = {
    "project": "use letters, digits, _ . and -, starting with a letter or digit, e.g. digits-mlp",
    "alias": "use letters, digits, _ and -, starting with a letter or _, e.g. challenger",
    "sweep_name": "use letters, digits and hyphens, starting and ending with a letter or digit, e.g. digits-hpo-1",
    "base_tuning_job_name": "use letters, digits, _ . and -, starting with a letter or digit, e.g. digits-hpo",
}

_UNION_TAG_WORDS: dict[str, str] = {
    "bool": "true/false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "none": "null",
}


def translate_errors(exc: ValidationError, model: type[BaseModel], data: Any = None) -> list[Problem]:
    """Turn pydantic's errors into one-line problems: key path, bad value, and the fix.

    `data` is the raw tree that was validated; with it, the errors pydantic reports once per member
    of a union (`int`, `str`, ...) are folded into one problem at the key the user wrote.
    """
    from adapters.errors import MISSING

    problems: list[Problem] = []
    unions: dict[str, list[str]] = {}
    union_values: dict[str, Any] = {}
    for err in exc.errors(include_url=False):
        loc: list[Any] = list(err["loc"])
        kind = err["type"]
        value = err.get("input", MISSING)
        ctx = err.get("ctx") or {}
        if loc and loc[-1] == "[key]":  # a bad mapping key: report it at the key itself
            loc = loc[:-1]
        cut = _union_tag_index(model, loc, data)
        if cut is not None:
            path = _dotted(loc[:cut])
            unions.setdefault(path, []).append(str(loc[cut]))
            union_values.setdefault(path, _value_at(data, loc[:cut], value))
            continue
        path = _dotted(loc)
        original = ctx.get("error")
        if isinstance(original, SubProblems):
            for key, val, message in original.items:
                problems.append(Problem(f"{path}.{key}" if path else key, val, message))
            continue
        if isinstance(original, ConfigError):
            problems.extend(original.problems)
            continue
        field = _field_at(model, [str(p) for p in loc])
        if kind == "extra_forbidden":
            problems.append(Problem(path, value, _unknown_key_message(model, [str(p) for p in loc])))
        elif kind == "missing":
            example = _REQUIRED_EXAMPLES.get(str(loc[-1]) if loc else "")
            fix = f"add `{example}`" if example else "add it"
            problems.append(Problem(path, MISSING, f"required key is missing; {fix}"))
        elif value is None and kind not in ("value_error", "assertion_error"):
            problems.append(Problem(path, None, _null_message(kind, ctx, field, str(loc[-1]) if loc else "")))
        else:
            problems.append(Problem(path, value, _message(kind, ctx, err["msg"], field, loc, value)))
    for path, tags in unions.items():
        words = list(dict.fromkeys(_UNION_TAG_WORDS.get(t, _tag_words(t)) for t in tags))
        problems.append(Problem(path, union_values[path], f"has the wrong type; must be {' or '.join(words)}"))
    return problems


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _union_tag_index(model: type[BaseModel], loc: list[Any], data: Any) -> int | None:
    """Index of the first union-member tag in `loc` (pydantic's `int`, `list[int]`, ...), or None.

    A tag is a loc element that is not a key of the input at that point, not a field name there,
    and looks like a type.
    """
    if data is None:
        return None
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            continue
        looks_like_type = isinstance(part, str) and (part in _UNION_TAG_WORDS or "[" in part or part[:1].isupper())
        if looks_like_type and part not in (_fields_at(model, [str(p) for p in loc[:index]]) or []):
            return index
        return None
    return None


def _value_at(data: Any, loc: list[Any], fallback: Any) -> Any:
    node = data
    for part in loc:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return fallback
        node = node[part]
    return node


def _tag_words(tag: str) -> str:
    if tag.startswith("literal["):
        return " or ".join(re.findall(r"'([^']*)'", tag)) or "a fixed value"
    if tag.startswith(("list[", "tuple[", "set[")):
        return "a list"
    if tag.startswith("dict[") or tag[:1].isupper():
        return "a mapping"
    return tag


def _message(kind: str, ctx: dict[str, Any], raw: str, field: Any, loc: list[Any], value: Any) -> str:
    """The `what is wrong; what to do` half of a problem line, for one pydantic error."""
    example = _example(field)
    name = str(loc[-1]) if loc else ""
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = _close(value, choices) if isinstance(value, str) else None
        hint = f"; did you mean '{close}'?" if close else ""
        return f"must be one of {', '.join(choices)}{hint}"
    if kind in ("int_type", "int_parsing"):
        return f"must be a whole number; write it without quotes, e.g. {example or 10}"
    if kind == "int_from_float":
        return "must be a whole number; drop the fraction"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number; write it without quotes, e.g. {example or 0.01}"
    if kind == "finite_number":
        return "must be a finite number; NaN and infinity are not allowed, write a real bound"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string; put it in quotes"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping (indented `key: value` lines or {key: value}); see docs/config.md"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list, e.g. [a, b] or one `- item` per line"
    if kind == "string_too_short":
        return "must not be empty; give a value or remove the key"
    if kind == "string_too_long":
        return f"is too long; use at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"needs at least {least} entr{'y' if least == 1 else 'ies'}; add {'one' if least == 1 else least}"
    if kind == "too_long":
        return f"has too many entries; use at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"is not allowed here; {_PATTERN_RULES.get(name, 'match the pattern ' + str(ctx.get('pattern')))}"
    bounds = {
        "greater_than_equal": ("ge", ">=", "or more"),
        "greater_than": ("gt", ">", "a larger value"),
        "less_than_equal": ("le", "<=", "or less"),
        "less_than": ("lt", "<", "a smaller value"),
    }
    if kind in bounds:
        key, op, more = bounds[kind]
        limit = ctx.get(key)
        fix = f"set it to {limit} {more}" if more.startswith("or") else f"use {more}"
        return f"must be {op} {limit}; {fix}"
    msg = raw.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "must be")


_NOUNS: dict[str, str] = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _null_message(kind: str, ctx: dict[str, Any], field: Any, name: str) -> str:
    if kind in ("enum", "literal_error"):
        noun = "one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    else:
        noun = _NOUNS.get(kind, "a value")
    default = _example(field)
    if default is not None:
        return f"is empty (null); give {noun}, or remove the key to use the default ({default})"
    example = _REQUIRED_EXAMPLES.get(name)
    return f"is empty (null); give {noun}" + (f", e.g. `{example}`" if example else "")


def _example(field: Any) -> Any:
    from pydantic_core import PydanticUndefined

    if field is None:
        return None
    default = field.default
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel | dict | list):
        return None
    return default.value if isinstance(default, StrEnum) else default


def _close(value: str, choices: list[str]) -> str | None:
    """The choice the user most likely meant: same letters ignoring case, a prefix, or a near spelling."""
    from difflib import get_close_matches

    lowered = {c.lower(): c for c in choices}
    text = value.strip().lower()
    if not text:
        return None
    if text in lowered:
        return lowered[text]
    prefixed = [c for low, c in lowered.items() if low.startswith(text) or text.startswith(low)]
    if len(prefixed) == 1:
        return prefixed[0]
    close = get_close_matches(text, list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _unknown_key_message(model: type[BaseModel], loc: list[str]) -> str:
    fields = _fields_at(model, loc[:-1])
    if fields is None:
        return "unknown key; remove it"
    fields = [f for f in fields if f != "written_as"]  # set by hpo-flow, not something to suggest
    key = loc[-1]
    if key == "range" and "min" in fields:
        return "unknown key; write OpenVINO's range: [min, max, step] as min:, max: and step: (values: for choice)"
    foreign = _FOREIGN_KEYS.get(key.lower()) if isinstance(key, str) else None
    if foreign in fields:
        return f"unknown key; hpo-flow calls this '{foreign}'"
    close = _close(key, fields) if isinstance(key, str) else None
    if close:
        return f"unknown key; did you mean '{close}'?"
    return f"unknown key; use one of: {', '.join(sorted(fields))}"


def _field_at(model: type[BaseModel], loc: list[str]) -> Any:
    """The pydantic FieldInfo at `loc` (walking models, dict values and list items), or None."""
    if not loc:
        return None
    parent = _type_at(model, loc[:-1])
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return None
    return _lookup(parent, loc[-1])


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str] | None:
    """Field names of the model found by walking `loc` from the root, or None."""
    current = _type_at(model, loc)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _type_at(model: type[BaseModel], loc: list[str]) -> Any:
    import typing

    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _lookup(current, part)
            if field is None:
                return None
            current = _unwrap(field.annotation)
            continue
        # dict[str, X] or list[X]: skip the key or index, descend into X
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin is dict and len(args) == 2:
            current = _unwrap(args[1])
        elif origin is list and args:
            current = _unwrap(args[0])
        else:
            return None
    return current


def _lookup(model: type[BaseModel], name: str) -> Any:
    return model.model_fields.get(name) or next((f for f in model.model_fields.values() if f.alias == name), None)


def _unwrap(annotation: Any) -> Any:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
            if typing.get_origin(arg) in (dict, list):
                return arg
    return annotation


__all__ = [
    "AzureBackend",
    "Backend",
    "CompletionCriteria",
    "EarlyStopping",
    "EarlyStoppingPolicy",
    "HpoConfig",
    "Hyperband",
    "LocalBackend",
    "MetricDefinition",
    "MlflowSettings",
    "Objective",
    "ParamRange",
    "RangeType",
    "SageMakerBackend",
    "Scaling",
    "SecretStr",
    "Strategy",
    "Training",
    "Tuning",
    "WarmStart",
    "load_config",
    "load_yaml",
    "parse_config",
]
