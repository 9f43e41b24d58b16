"""`tuning`: the search: strategy, objective, limits, early stopping, warm start, ranges."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hpo_flow.adapters.spec import limits
from hpo_flow.adapters.spec.base import ParamName, Strict, SubProblems, _missing
from hpo_flow.adapters.spec.ranges import ParamRange


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
    backend: str = "local"  # an installed backend's name (hpo_flow.adapters.registry)
    strategy: Strategy = Strategy.Bayesian
    max_jobs: int = Field(default=10, ge=1, le=limits.MAX_JOBS)
    max_parallel_jobs: int = Field(default=1, ge=1, le=limits.MAX_PARALLEL_JOBS)
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

    @field_validator("strategy", "objective_type", mode="before")
    @classmethod
    def _enum_names(cls, value: Any, info: Any) -> Any:
        aliases = {"max": "Maximize", "min": "Minimize", "maximise": "Maximize", "minimise": "Minimize"}
        enum = {"strategy": Strategy, "objective_type": Objective}[info.field_name]
        return _case_insensitive(enum, aliases if enum is Objective else None)(value)

    @field_validator("backend", mode="before")
    @classmethod
    def _installed_backend(cls, value: Any) -> Any:
        from hpo_flow.adapters import registry

        if not isinstance(value, str):
            return value  # pydantic says it must be a string
        known = registry.names()
        name = next((n for n in known if n.lower() == value.strip().lower()), None)
        if name is None:
            raise ValueError(f"is not an installed backend; {registry.choices_hint(value)}")
        return name

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
