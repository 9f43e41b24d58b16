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
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from adapters.errors import ConfigError, Problem

Scalar = bool | int | float | str


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


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
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
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
        names = [m.Name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; {dupes} defined more than once")
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
    values: list[Scalar] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_vocabulary(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        written = data.get("type")
        if isinstance(written, str) and written.lower() in _VOCABULARY:
            canonical, scaling, _ = _VOCABULARY[written.lower()]
            data["type"] = canonical.value
            data.setdefault("written_as", written.lower())
            if scaling is not None and "scaling_type" not in data:
                data["scaling_type"] = scaling.value
        elif isinstance(written, str):
            from difflib import get_close_matches

            close = get_close_matches(written.lower(), RANGE_TYPE_NAMES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SubProblems(
                [("type", written, f"unknown range type; use one of {', '.join(RANGE_TYPE_NAMES)}{hint}")]
            )
        if "q" in data:
            if "step" in data:
                raise SubProblems([("q", data["q"], "give either step or q (the same thing), not both")])
            data["step"] = data.pop("q")
        if isinstance(data.get("scaling_type"), str):
            by_lower = {s.value.lower(): s.value for s in Scaling}
            data["scaling_type"] = by_lower.get(data["scaling_type"].lower(), data["scaling_type"])
        return data

    @model_validator(mode="after")
    def _coherent(self) -> ParamRange:
        problems: list[tuple[str, Any, str]] = []
        add = problems.append
        t = self.type
        log = self.scaling_type == Scaling.Logarithmic
        if t in (RangeType.continuous, RangeType.integer):
            for key in ("min", "max"):
                if getattr(self, key) is None:
                    add((key, None, f"a {self.written_as or t.value} range needs min and max"))
            for key in ("values", "mu", "sigma"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {self.written_as or t.value} range; remove it"))
            if self.min is not None and self.max is not None:
                if self.min >= self.max:
                    add(("min", self.min, f"must be less than max ({_num(self.max)}); lower min or raise max"))
                if log and self.min <= 0:
                    add(("min", self.min, "a logarithmic range needs min > 0; use a small positive bound such as 1e-6"))
                if self.scaling_type == Scaling.ReverseLogarithmic:
                    if t == RangeType.integer:
                        add(
                            (
                                "scaling_type",
                                "ReverseLogarithmic",
                                "only continuous ranges can be ReverseLogarithmic; use Linear or Logarithmic",
                            )
                        )
                    elif not (self.min >= 0 and self.max < 1):
                        add(
                            (
                                "max" if self.max >= 1 else "min",
                                self.max if self.max >= 1 else self.min,
                                "ReverseLogarithmic needs 0 <= min < max < 1; use Logarithmic for other ranges",
                            )
                        )
                if t == RangeType.integer:
                    for key in ("min", "max"):
                        v = getattr(self, key)
                        if v is not None and not float(v).is_integer():
                            add((key, v, "an integer range needs whole-number bounds"))
            if self.step is not None and self.min is not None and self.max is not None and self.min < self.max:
                self._check_step(self.max - self.min, add)
        elif t == RangeType.categorical:
            if not self.values:
                add(("values", self.values, "a categorical range needs a non-empty list of values, e.g. [16, 32, 64]"))
            else:
                seen: list[Any] = []
                for v in self.values:
                    key = (type(v).__name__, v)
                    if key in seen:
                        add(("values", v, "duplicate categorical value; list each value once"))
                    seen.append(key)
            for key in ("min", "max", "step", "mu", "sigma", "log_base"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), "not used by a categorical range; remove it"))
        else:  # normal family
            if self.mu is None:
                add(("mu", None, f"a {self.written_as or t.value} range needs mu (the mean)"))
            if self.sigma is None:
                add(("sigma", None, f"a {self.written_as or t.value} range needs sigma (the standard deviation)"))
            elif self.sigma <= 0:
                add(("sigma", self.sigma, "sigma must be > 0"))
            for key in ("min", "max", "values"):
                if getattr(self, key) is not None:
                    add(
                        (key, getattr(self, key), f"not used by a {self.written_as or t.value} range; use mu and sigma")
                    )
            if self.step is not None and self.step <= 0:
                add(("step", self.step, "step must be > 0"))
        if self.log_base is not None and (self.log_base <= 1 or not math.isfinite(self.log_base)):
            add(("log_base", self.log_base, "log_base must be a number > 1 (10, 2, or e = 2.718...)"))
        if self.log_base is not None and not log and t != RangeType.categorical:
            add(("log_base", self.log_base, "log_base only applies to a logarithmic range (loguniform, qloguniform)"))
        if problems:
            raise SubProblems(problems)
        return self

    def _check_step(self, span: float, add: Any) -> None:
        if self.step is None:
            return
        if self.step <= 0:
            add(("step", self.step, "step must be > 0"))
        elif self.step > span:
            add(("step", self.step, f"step is larger than the range ({_num(span)}); use a step <= max - min"))
        elif self.type == RangeType.integer and not float(self.step).is_integer():
            add(("step", self.step, "an integer range needs a whole-number step"))

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
    return str(int(value)) if float(value).is_integer() else repr(value)


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
            problems.append(("slack_factor", None, "the bandit policy needs slack_factor or slack_amount, e.g. 0.15"))
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
                    f"only the truncation policy uses truncation_percentage (policy is {self.policy.value})",
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
                [("max_resource", self.max_resource, f"must be greater than min_resource ({self.min_resource})")]
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
    base_tuning_job_name: str | None = None
    sweep_name: str | None = None  # fix the sweep's name instead of deriving it from the config
    max_runtime_seconds: int | None = Field(default=None, ge=1)
    trial_timeout_seconds: int | None = Field(default=None, ge=1)
    random_seed: int | None = None
    max_failed_trials: int | None = Field(default=None, ge=1)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    cancel_on_flow_exit: bool = True  # a cancelled or crashed flow stops its sweep
    completion_criteria: CompletionCriteria | None = None
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    hyperband: Hyperband = Field(default_factory=Hyperband)
    warm_start: WarmStart | None = None
    hyperparameter_ranges: dict[str, ParamRange] = Field(min_length=1)

    @field_validator("strategy", "objective_type", "backend", mode="before")
    @classmethod
    def _enum_names(cls, value: Any, info: Any) -> Any:
        aliases = {"max": "Maximize", "min": "Minimize", "maximise": "Maximize", "minimise": "Minimize"}
        enum = {"strategy": Strategy, "objective_type": Objective, "backend": Backend}[info.field_name]
        return _case_insensitive(enum, aliases if enum is Objective else None)(value)

    @field_validator("hyperparameter_ranges", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", k)]
            if bad:
                raise ValueError(f"hyperparameter names must be identifiers (letters, digits, _ . -); got {bad}")
        return value

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None or value is False:
            return {"policy": "off"}
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

    @model_validator(mode="after")
    def _fits(self) -> LocalBackend:
        if isinstance(self.gpus, list) and self.gpus and self.gpus_per_trial > len(self.gpus):
            raise SubProblems(
                [("gpus_per_trial", self.gpus_per_trial, f"more than the {len(self.gpus)} GPUs listed in gpus")]
            )
        if self.gpus_per_trial > 1 and self.trials_per_gpu > 1:
            raise SubProblems(
                [
                    (
                        "trials_per_gpu",
                        self.trials_per_gpu,
                        "share GPUs between trials or give a trial several GPUs, not both",
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
            raise SubProblems([("max_wait_seconds", self.max_wait_seconds, "only used with use_spot: true")])
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
            return self.tuning.sweep_name[:max_length]
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
        return found


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
        from difflib import get_close_matches

        close = get_close_matches(objective, [n for n in names if isinstance(n, str)], n=1)
        hint = f"did you mean '{close[0]}'? Or add" if close else "add"
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
    if isinstance(strategy, str) and strategy.lower() == "grid" and isinstance(ranges, dict):
        for name, spec in ranges.items():
            if not isinstance(spec, dict):
                continue
            kind = str(spec.get("type", "")).lower()
            canonical = _VOCABULARY.get(kind, (None,))[0]
            has_step = spec.get("step") is not None or spec.get("q") is not None
            if canonical in (RangeType.continuous, RangeType.normal, RangeType.lognormal) and not has_step:
                problems.append(
                    Problem(
                        f"tuning.hyperparameter_ranges.{name}.type",
                        spec.get("type"),
                        "Grid needs a finite set of values; give this range a step, or make it categorical or integer",
                    )
                )
    return problems


# --------------------------------------------------------------------------- loading


_SEED_STYLE_TOP = {"tuning_config"}


def parse_config(data: Any) -> HpoConfig:
    """Validate a YAML tree; raise ConfigError with every problem found."""
    if isinstance(data, dict) and set(data) == _SEED_STYLE_TOP and isinstance(data["tuning_config"], dict):
        data = data["tuning_config"]  # seed 000 wraps the whole file in `tuning_config:`
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem("", type(data).__name__, "the config must be a YAML mapping with project, training and tuning")]
        )
    try:
        return HpoConfig.model_validate(data)
    except ValidationError as exc:
        problems = translate_errors(exc, HpoConfig) + cross_problems(data)
        raise ConfigError(_dedupe(problems)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> HpoConfig:
    """Read and validate config.yaml; every failure is a ConfigError naming the file and key.

    `overrides` are dotted keys (`tuning.max_jobs=4` strings, or a mapping) applied before validation.
    """
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_config(data)


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
                pairs[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
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
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError([Problem(str(p), _missing(), "file not found; pass the path of your config.yaml")])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(p), _missing(), f"cannot read the file: {exc}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            [Problem(f"{p}:{mark.line + 1 if mark else '?'}", _missing(), f"YAML syntax error at {where}: {what}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(p), _missing(), f"YAML error: {exc}")]) from None


def _missing() -> Any:
    from adapters.errors import MISSING

    return MISSING


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out: list[Problem] = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


# --------------------------------------------------------------------------- error translation


def translate_errors(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """Turn pydantic's errors into one-line problems: key path, bad value, and the fix."""
    from adapters.errors import MISSING

    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc)
        kind = err["type"]
        value = err.get("input", MISSING)
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        if isinstance(original, SubProblems):
            for key, val, message in original.items:
                problems.append(Problem(f"{path}.{key}" if path else key, val, message))
            continue
        if isinstance(original, ConfigError):
            problems.extend(original.problems)
            continue
        if kind == "extra_forbidden":
            problems.append(Problem(path, value, _unknown_key_message(model, loc)))
        elif kind == "missing":
            problems.append(Problem(path, MISSING, "required key is missing"))
        elif kind in ("enum", "literal_error"):
            expected = ctx.get("expected", "")
            problems.append(Problem(path, value, f"must be one of {expected}"))
        else:
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
            problems.append(Problem(path, value, _friendly(kind, msg)))
    return problems


def _friendly(kind: str, msg: str) -> str:
    if kind == "greater_than_equal":
        return msg.replace("Input should be", "must be")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return msg.replace("Input should be", "must be")
    return msg.replace("Input should be", "must be")


def _unknown_key_message(model: type[BaseModel], loc: list[str]) -> str:
    from difflib import get_close_matches

    fields = _fields_at(model, loc[:-1])
    if fields is None:
        return "unknown key; remove it"
    close = get_close_matches(loc[-1], fields, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return f"unknown key; expected one of: {', '.join(sorted(fields))}"


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str] | None:
    """Field names of the model found by walking `loc` from the root, or None."""
    import typing

    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            # dict[str, X]: skip the key, descend into X
            args = typing.get_args(current)
            if typing.get_origin(current) is dict and args:
                current = args[1]
                continue
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
            if typing.get_origin(arg) is dict:
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
    "parse_config",
]
