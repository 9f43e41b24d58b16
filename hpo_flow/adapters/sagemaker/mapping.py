"""The config as SageMaker sees it: every setting mapped to what a tuning job can express, or refused.

Pure Python, no SDK: `map_spec` turns an `HpoConfig` into a `TuningSpec` of plain values that
`hpo_flow.adapters.sagemaker.build` hands to the SDK, and raises one `PlanError` naming every key that
SageMaker cannot run as written, each with the reason and the nearest thing it can run exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import MISSING, CredentialsError, PlanError, Problem
from hpo_flow.adapters.sagemaker.backend import BACKEND as INFO
from hpo_flow.adapters.spec import (
    EarlyStoppingPolicy,
    HpoConfig,
    ParamRange,
    RangeType,
    SageMakerBackend,
    Strategy,
)
from hpo_flow.report import MODEL_DIR_VAR, input_vars

BACKEND = INFO.name

# The service's own limits (botocore's sagemaker service model and the API reference).
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
CHANNEL = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9\-]+\.[a-z0-9]+$")
TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
MAX_RANGES_PER_KIND = 30
MAX_CATEGORICAL_VALUES = 30
MAX_HYPERPARAMETERS = 100
MAX_ENVIRONMENT = 48
MAX_CHANNELS = 20
MAX_METRICS = 40
MAX_TAGS = 50
MAX_WARM_START_PARENTS = 5
MIN_TUNING_RUNTIME, MAX_TUNING_RUNTIME = 120, 15_768_000
MIN_NOT_IMPROVING = 3
MAX_HYPERBAND_RESOURCE = 20_000
# Service quotas of a tuning job (SageMaker endpoints and quotas): training jobs in all, and at once.
MAX_TRAINING_JOBS = 750
MAX_PARALLEL_TRAINING_JOBS = 100
# SageMaker infers Hyperband's MaxResource from one of these static hyperparameters when it is not given.
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
# Channels and hyperparameters the SDK adds for script mode: a user's own of these names would clash.
SDK_CHANNELS = ("sm_drivers", "code")
SDK_HYPERPARAMETER_PREFIX = "sagemaker_"
TAG_PREFIX = "hpo-flow:"
CONFIG_HASH_TAG = f"{TAG_PREFIX}config-hash"  # submit attaches only to a job whose tag matches
# Where SageMaker's container has the model directory it uploads, and each channel's data.
CONTAINER_MODEL_DIR = "/opt/ml/model"
CONTAINER_INPUT_DIR = "/opt/ml/input/data"


@dataclass(frozen=True)
class RangeSpec:
    """One tuned hyperparameter as SageMaker's Continuous/Integer/Categorical parameter range."""

    name: str
    kind: str  # "Continuous" | "Integer" | "Categorical"
    min: float | int | None = None
    max: float | int | None = None
    scaling: str = "Auto"
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuningSpec:
    """Everything the SDK objects are built from, already checked against SageMaker's rules."""

    job_name: str
    region: str | None
    role: str
    image_uri: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    source_dir: str
    entry_point: str
    static_hyperparameters: dict[str, Any]
    inputs: dict[str, str]
    environment: dict[str, str]
    tags: dict[str, str]
    metric_definitions: list[dict[str, str]]
    objective_metric: str
    objective_type: str
    ranges: list[RangeSpec]
    strategy: str
    max_jobs: int | None
    max_parallel_jobs: int
    early_stopping: str
    max_run_seconds: int | None = None
    max_wait_seconds: int | None = None
    use_spot: bool = False
    checkpoint_s3_uri: str | None = None
    output_path: str | None = None
    output_kms_key_id: str | None = None
    volume_kms_key_id: str | None = None
    subnets: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    max_runtime_seconds: int | None = None
    hyperband: tuple[int, int | None] | None = None  # (MinResource, MaxResource)
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False
    warm_start_parents: list[str] = field(default_factory=list)
    warm_start_type: str | None = None
    random_seed: int | None = None
    credentials_block: str | None = None

    @property
    def account(self) -> str:
        """The AWS account of the execution role; plan assumes the default bucket lives there too."""
        return self.role.split(":")[4]


def backend_section(spec: HpoConfig) -> SageMakerBackend:
    section = spec.backends.sagemaker
    if section is None:
        raise PlanError(
            BACKEND,
            [
                Problem(
                    "backends.sagemaker",
                    MISSING,
                    "no sagemaker section; add backends.sagemaker with at least role (the execution role ARN) "
                    "and image_uri (the training image)",
                )
            ],
        )
    return section


def check_role(section: SageMakerBackend) -> str:
    """The execution role ARN, or one CredentialsError that says what to set."""
    if not section.role:
        raise CredentialsError(
            "backends.sagemaker.role is not set: SageMaker runs every training job as an IAM role; set it to "
            "the role's ARN, e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole"
        )
    if not ROLE_ARN.match(section.role):
        raise CredentialsError(
            f"backends.sagemaker.role {section.role!r} is not an IAM role ARN; give the full ARN "
            "(arn:aws:iam::<12-digit account>:role/<name>), which plan can use without looking the name up"
        )
    return section.role


def map_spec(spec: HpoConfig) -> TuningSpec:
    """The config as a SageMaker tuning job; a PlanError listing everything SageMaker cannot express."""
    section = backend_section(spec)
    role = check_role(section)
    problems: list[Problem] = []
    tuning = spec.tuning

    job_name = INFO.sweep_name(spec)
    if not JOB_NAME.match(job_name):
        key = "tuning.sweep_name" if tuning.sweep_name else "tuning.base_tuning_job_name"
        problems.append(
            Problem(key, job_name, "not a valid SageMaker tuning job name (1-32 letters, digits and hyphens)")
        )
    if tuning.sweep_name and len(tuning.sweep_name) > 32:
        problems.append(
            Problem("tuning.sweep_name", tuning.sweep_name, "SageMaker tuning job names have at most 32 characters")
        )

    if not section.image_uri:
        problems.append(
            Problem(
                "backends.sagemaker.image_uri",
                MISSING,
                "SageMaker needs a training image; give an ECR image URI, e.g. a SageMaker PyTorch training image",
            )
        )
    problems += _instance_type_problems(section.instance_type)
    problems += _code_problems(spec)
    problems += _s3_problems(section)
    problems += _spot_problems(section, tuning.trial_timeout_seconds)
    problems += _vpc_problems(section)

    ranges = [_map_range(name, r, problems) for name, r in tuning.hyperparameter_ranges.items()]
    problems += _range_count_problems(ranges)
    static = spec.fixed_hyperparameters()
    problems += _hyperparameter_problems(spec, static)
    inputs, input_env, input_flags = _training_inputs(spec, problems)
    # What a script sees is the same on every backend: HPO_MODEL_DIR (the toolkit sets SM_MODEL_DIR)
    # and HPO_INPUT_<NAME> beside the toolkit's SM_CHANNEL_<NAME>.
    environment = {MODEL_DIR_VAR: CONTAINER_MODEL_DIR, **input_env, **spec.training.environment, **section.environment}
    static = {**static, **input_flags}
    problems += _environment_problems(spec.training.environment, "training.environment")
    problems += _environment_problems(section.environment, "backends.sagemaker.environment")
    if len(environment) > MAX_ENVIRONMENT:
        problems.append(
            Problem(
                "backends.sagemaker.environment",
                f"{len(environment)} variables (with training.environment)",
                f"SageMaker sets at most {MAX_ENVIRONMENT} environment variables on a tuned training job",
            )
        )
    problems += _input_problems(inputs)
    tags = {
        f"{TAG_PREFIX}project": spec.project,
        CONFIG_HASH_TAG: spec.config_hash(),
        f"{TAG_PREFIX}sweep": job_name,
        **section.tags,
    }
    problems += _tag_problems(section.tags, len(tags))
    if len(spec.training.metric_definitions) > MAX_METRICS:
        problems.append(
            Problem(
                "training.metric_definitions",
                len(spec.training.metric_definitions),
                f"SageMaker reads at most {MAX_METRICS} metrics; keep the objective and the ones you chart",
            )
        )
    problems += _regex_problems(spec)
    problems += _script_contract_problems(spec)

    strategy = tuning.strategy.value
    max_jobs: int | None = tuning.max_jobs
    if tuning.strategy == Strategy.Grid:
        max_jobs = _grid_max_jobs(spec, ranges, problems)
    else:
        problems += _combination_problems(spec)
    early = _early_stopping(spec, problems)
    hyperband = _hyperband(spec, static, problems)
    problems += _limit_problems(spec)

    problems += _zero_problems(spec)
    if tuning.max_failed_trials is not None:
        problems.append(
            Problem(
                "tuning.max_failed_trials",
                tuning.max_failed_trials,
                "SageMaker has no failed-trial limit to set: it goes on past failures and fails the tuning job "
                "itself when no training job succeeds; remove it",
            )
        )
    criteria = tuning.completion_criteria
    warm = tuning.warm_start
    if warm is not None:
        problems += _warm_start_problems(warm.parents)
    warm_parents = list(warm.parents) if warm else generation_parents(spec)

    if problems:
        raise PlanError(BACKEND, problems)
    return TuningSpec(
        job_name=job_name,
        region=section.region,
        role=role,
        image_uri=section.image_uri or "",
        instance_type=section.instance_type,
        instance_count=section.instance_count,
        volume_size_gb=section.volume_size_gb,
        source_dir=spec.training.source_dir,
        entry_point=spec.training.entry_point,
        static_hyperparameters=static,
        inputs=inputs,
        environment=environment,
        tags=tags,
        metric_definitions=[{"Name": m.Name, "Regex": m.Regex} for m in spec.training.metric_definitions],
        objective_metric=tuning.objective_metric,
        objective_type=tuning.objective_type.value,
        ranges=ranges,
        strategy=strategy,
        max_jobs=max_jobs,
        max_parallel_jobs=tuning.max_parallel_jobs,
        early_stopping=early,
        max_run_seconds=section.max_run_seconds or tuning.trial_timeout_seconds,
        max_wait_seconds=section.max_wait_seconds,
        use_spot=section.use_spot,
        checkpoint_s3_uri=section.checkpoint_s3_uri,
        output_path=section.output_path.rstrip("/") if section.output_path else None,
        output_kms_key_id=section.output_kms_key_id,
        volume_kms_key_id=section.volume_kms_key_id,
        subnets=list(section.subnets),
        security_group_ids=list(section.security_group_ids),
        max_runtime_seconds=tuning.max_runtime_seconds,
        hyperband=hyperband,
        target_objective_value=criteria.target_objective_value if criteria else None,
        max_jobs_not_improving=criteria.max_jobs_not_improving if criteria else None,
        complete_on_convergence=bool(criteria and criteria.convergence_detected),
        warm_start_parents=warm_parents,
        warm_start_type=warm.type if warm else ("IdenticalDataAndAlgorithm" if warm_parents else None),
        random_seed=tuning.random_seed,
        credentials_block=section.credentials_block,
    )


# --------------------------------------------------------------------------- ranges


def _map_range(name: str, r: ParamRange, problems: list[Problem]) -> RangeSpec:
    """SageMaker's exact equivalent of one range, or a problem with the nearest exact alternative."""
    path = f"tuning.hyperparameter_ranges.{name}"
    written = r.written_as or r.type.value
    if r.type == RangeType.categorical:
        values = tuple(r.values or ())
        if len(values) > MAX_CATEGORICAL_VALUES:
            problems.append(
                Problem(
                    f"{path}.values",
                    f"{len(values)} values",
                    f"SageMaker takes at most {MAX_CATEGORICAL_VALUES} categorical values; keep the most promising "
                    "ones, or use a continuous or integer range if the values are ordered numbers",
                )
            )
        return RangeSpec(name=name, kind="Categorical", values=values)
    if r.type in (RangeType.normal, RangeType.lognormal):
        problems.append(Problem(f"{path}.type", written, _normal_refusal(r)))
        return RangeSpec(name=name, kind="Continuous")
    assert r.min is not None and r.max is not None  # the config model guarantees bounds for these types
    if r.step is not None and not (r.type == RangeType.integer and r.step == 1):
        problems.append(Problem(f"{path}.step", r.step, _step_refusal(r)))
    if r.type == RangeType.integer:
        return RangeSpec(name=name, kind="Integer", min=int(r.min), max=int(r.max), scaling=r.scaling_type.value)
    # log_base needs no mapping: a log-uniform range samples the same way in any base.
    return RangeSpec(name=name, kind="Continuous", min=r.min, max=r.max, scaling=r.scaling_type.value)


def _normal_refusal(r: ParamRange) -> str:
    mu, sigma = r.mu or 0.0, r.sigma or 1.0
    if r.type == RangeType.lognormal:
        low, high = math.exp(mu - 2 * sigma), math.exp(mu + 2 * sigma)
        nearest = f"{{type: loguniform, min: {_g(low)}, max: {_g(high)}}}"
        what = "a log-normal distribution"
    else:
        low, high = mu - 2 * sigma, mu + 2 * sigma
        nearest = f"{{type: uniform, min: {_g(low)}, max: {_g(high)}}}"
        what = "a normal distribution"
    return (
        f"SageMaker samples only bounded ranges, not {what}; the nearest range it runs exactly is "
        f"{nearest} (mu +/- 2 sigma, 95% of the mass)"
    )


def _step_refusal(r: ParamRange) -> str:
    written = r.written_as or r.type.value
    reason = f"SageMaker ranges have no step, so {written} with step {_g(r.step)} has no exact equivalent"
    if r.is_integral and r.step == 1:
        return f"{reason}; use {{type: integer, min: {_g(r.min)}, max: {_g(r.max)}}}, which is exact"
    values = r.grid_values()
    if len(values) <= MAX_CATEGORICAL_VALUES:
        listed = ", ".join(_g(v) for v in values)
        return f"{reason}; list its {len(values)} values instead: {{type: categorical, values: [{listed}]}}"
    unstepped = "loguniform" if r.is_log else ("integer" if r.type == RangeType.integer else "uniform")
    return (
        f"{reason}, and its {len(values)} values are more than SageMaker's {MAX_CATEGORICAL_VALUES} categorical "
        f"values; use {{type: {unstepped}, min: {_g(r.min)}, max: {_g(r.max)}}} and round in the training script"
    )


def _range_count_problems(ranges: list[RangeSpec]) -> list[Problem]:
    found = []
    for kind in ("Continuous", "Integer", "Categorical"):
        count = sum(1 for r in ranges if r.kind == kind)
        if count > MAX_RANGES_PER_KIND:
            found.append(
                Problem(
                    "tuning.hyperparameter_ranges",
                    f"{count} {kind.lower()} ranges",
                    f"SageMaker tunes at most {MAX_RANGES_PER_KIND} {kind.lower()} ranges; fix the least important",
                )
            )
    return found


def _combinations(spec: HpoConfig) -> int | None:
    """How many distinct points the search space has, when every range is finite."""
    total = 1
    for r in spec.tuning.hyperparameter_ranges.values():
        if r.type == RangeType.categorical:
            total *= len(r.values or [])
        elif r.type == RangeType.integer and r.min is not None and r.max is not None:
            total *= int(r.max) - int(r.min) + 1
        else:
            return None
    return total


def _combination_problems(spec: HpoConfig) -> list[Problem]:
    # SageMaker rejects a job whose finite search space has fewer points than MaxNumberOfTrainingJobs.
    total = _combinations(spec)
    if total is not None and total < spec.tuning.max_jobs:
        return [
            Problem(
                "tuning.max_jobs",
                spec.tuning.max_jobs,
                f"the ranges have only {total} distinct combinations and SageMaker refuses more jobs than that; "
                f"set max_jobs: {total} or widen a range",
            )
        ]
    return []


def _grid_max_jobs(spec: HpoConfig, ranges: list[RangeSpec], problems: list[Problem]) -> int | None:
    """SageMaker's Grid runs every combination of categorical values; MaxNumberOfTrainingJobs is then optional."""
    refused = {p.path.rsplit(".", 1)[0] for p in problems}
    for name, r in spec.tuning.hyperparameter_ranges.items():
        if r.type == RangeType.categorical or f"tuning.hyperparameter_ranges.{name}" in refused:
            continue
        try:
            values = r.grid_values()
        except ValueError:
            values = []
        if values and len(values) <= MAX_CATEGORICAL_VALUES:
            listed = ", ".join(_g(v) for v in values)
            fix = f"list the values: {{type: categorical, values: [{listed}]}}"
        else:
            fix = "make it categorical with the values to try, or use strategy: Random or Bayesian"
        problems.append(
            Problem(
                f"tuning.hyperparameter_ranges.{name}.type",
                r.written_as or r.type.value,
                f"SageMaker's Grid strategy searches categorical ranges only; {fix}",
            )
        )
    if any(r.kind != "Categorical" for r in ranges):
        return None
    total = math.prod(len(r.values) for r in ranges)
    if "max_jobs" not in spec.tuning.model_fields_set:
        return None  # SageMaker computes the grid's size itself
    if spec.tuning.max_jobs != total:
        problems.append(
            Problem(
                "tuning.max_jobs",
                spec.tuning.max_jobs,
                f"SageMaker's Grid runs every one of the {total} combinations; set max_jobs: {total} or remove it",
            )
        )
    return spec.tuning.max_jobs


# --------------------------------------------------------------------------- strategy and early stopping

_POLICY_REASONS = {
    EarlyStoppingPolicy.bandit: "a bandit policy (slack against the best trial) cannot be configured on SageMaker",
    EarlyStoppingPolicy.median: (
        "SageMaker's Auto early stopping is itself a median rule (it stops a job whose objective is worse than "
        "the median of earlier jobs' running averages at the same epoch), but its evaluation interval and delay "
        "cannot be set"
    ),
    EarlyStoppingPolicy.truncation: "a truncation-selection policy cannot be configured on SageMaker",
    EarlyStoppingPolicy.asha: "SageMaker has no ASHA policy; its successive-halving search is the Hyperband strategy",
}


def _early_stopping(spec: HpoConfig, problems: list[Problem]) -> str:
    """SageMaker's TrainingJobEarlyStoppingType: Off or Auto, nothing else."""
    es = spec.tuning.early_stopping
    hyperband = spec.tuning.strategy == Strategy.Hyperband
    if es.policy == EarlyStoppingPolicy.off:
        return "Off"
    if es.policy == EarlyStoppingPolicy.auto:
        if hyperband:
            problems.append(
                Problem(
                    "tuning.early_stopping.policy",
                    "auto",
                    "SageMaker's Hyperband stops poor trials itself and requires early stopping Off; "
                    "set early_stopping: off",
                )
            )
        tuned = sorted(es.model_fields_set - {"policy"})
        for key in tuned:
            problems.append(
                Problem(
                    f"tuning.early_stopping.{key}",
                    getattr(es, key),
                    "SageMaker's Auto early stopping has no settings; remove it",
                )
            )
        return "Auto"
    reason = _POLICY_REASONS[es.policy]
    if hyperband or es.policy == EarlyStoppingPolicy.asha:
        nearest = "use strategy: Hyperband with early_stopping: off" if not hyperband else "set early_stopping: off"
    else:
        nearest = "set policy: auto for SageMaker's own rule, or strategy: Hyperband with early_stopping: off"
    problems.append(Problem("tuning.early_stopping.policy", es.policy.value, f"{reason}; {nearest}"))
    return "Off"


def _hyperband(spec: HpoConfig, static: dict[str, Any], problems: list[Problem]) -> tuple[int, int | None] | None:
    """Hyperband's MinResource/MaxResource, in epochs of the objective's curve."""
    if spec.tuning.strategy != Strategy.Hyperband:
        return None
    hb = spec.tuning.hyperband
    if "reduction_factor" in hb.model_fields_set:
        problems.append(
            Problem(
                "tuning.hyperband.reduction_factor",
                hb.reduction_factor,
                "SageMaker's Hyperband has no reduction factor setting; remove it",
            )
        )
    if hb.max_resource is None and not any(k in static for k in HYPERBAND_EPOCH_KEYS):
        problems.append(
            Problem(
                "tuning.hyperband.max_resource",
                MISSING,
                "SageMaker's Hyperband needs the most epochs a trial may run; set max_resource, or add one of "
                f"{', '.join(HYPERBAND_EPOCH_KEYS)} to training.hyperparameters (SageMaker reads it from there)",
            )
        )
    for key in ("min_resource", "max_resource"):
        value = getattr(hb, key)
        if value is not None and value > MAX_HYPERBAND_RESOURCE:
            problems.append(
                Problem(f"tuning.hyperband.{key}", value, f"SageMaker allows at most {MAX_HYPERBAND_RESOURCE} epochs")
            )
    return (hb.min_resource, hb.max_resource)


def _limit_problems(spec: HpoConfig) -> list[Problem]:
    found = []
    for key, value, limit, what in (
        ("max_jobs", spec.tuning.max_jobs, MAX_TRAINING_JOBS, "training jobs in one tuning job"),
        ("max_parallel_jobs", spec.tuning.max_parallel_jobs, MAX_PARALLEL_TRAINING_JOBS, "training jobs at once"),
    ):
        if value > limit:
            found.append(Problem(f"tuning.{key}", value, f"SageMaker runs at most {limit} {what}; set {limit} or less"))
    runtime = spec.tuning.max_runtime_seconds
    if runtime is not None and not MIN_TUNING_RUNTIME <= runtime <= MAX_TUNING_RUNTIME:
        found.append(
            Problem(
                "tuning.max_runtime_seconds",
                runtime,
                f"SageMaker accepts {MIN_TUNING_RUNTIME} to {MAX_TUNING_RUNTIME} seconds for a tuning job",
            )
        )
    criteria = spec.tuning.completion_criteria
    if criteria and criteria.max_jobs_not_improving is not None and criteria.max_jobs_not_improving < MIN_NOT_IMPROVING:
        found.append(
            Problem(
                "tuning.completion_criteria.max_jobs_not_improving",
                criteria.max_jobs_not_improving,
                f"SageMaker needs at least {MIN_NOT_IMPROVING}; set {MIN_NOT_IMPROVING} or more",
            )
        )
    return found


def _zero_problems(spec: HpoConfig) -> list[Problem]:
    # The SDK serializes its request objects without their falsy fields, so a 0 never reaches SageMaker.
    found = []
    reason = "the SageMaker SDK leaves zero-valued settings out of the request, so SageMaker would never see it"
    if spec.tuning.random_seed == 0:
        found.append(Problem("tuning.random_seed", 0, f"{reason}; use any other seed, e.g. 1"))
    criteria = spec.tuning.completion_criteria
    if criteria is not None and criteria.target_objective_value == 0:
        found.append(
            Problem(
                "tuning.completion_criteria.target_objective_value",
                0,
                f"{reason}; use a value just beside it, e.g. 1e-9",
            )
        )
    return found


def generation_parents(spec: HpoConfig) -> list[str]:
    """A later generation's native warm start: the newest earlier generations of the same config and
    code (IdenticalDataAndAlgorithm holds: same image, ranges and static values), at most the 5
    SageMaker takes. A config's own tuning.warm_start replaces them."""
    parents = spec.lineage.parents if spec.lineage else []
    return [p for p in parents if JOB_NAME.match(p)][:MAX_WARM_START_PARENTS]


def _warm_start_problems(parents: list[str]) -> list[Problem]:
    found = []
    if len(parents) > MAX_WARM_START_PARENTS:
        found.append(
            Problem(
                "tuning.warm_start.parents",
                f"{len(parents)} parents",
                f"SageMaker warm-starts from at most {MAX_WARM_START_PARENTS} tuning jobs; keep the best ones",
            )
        )
    for index, parent in enumerate(parents):
        if not JOB_NAME.match(parent):
            found.append(
                Problem(
                    f"tuning.warm_start.parents.{index}",
                    parent,
                    "not a SageMaker tuning job name (1-32 letters, digits and hyphens); give the parent job's name",
                )
            )
    return found


# --------------------------------------------------------------------------- the training job


def _instance_type_problems(instance_type: str) -> list[Problem]:
    # Only a malformed name is refused: botocore's list lags new instance types, which SageMaker accepts.
    if INSTANCE_TYPE.match(instance_type):
        return []
    known = _training_instance_types()
    prefixed = f"ml.{instance_type.strip()}"
    close = [prefixed] if prefixed in known else get_close_matches(instance_type, sorted(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "; e.g. ml.m5.xlarge"
    return [Problem("backends.sagemaker.instance_type", instance_type, f"not a SageMaker training instance type{hint}")]


def _training_instance_types() -> set[str]:
    """The instance types botocore's service model lists for training (empty if botocore is absent)."""
    try:
        from botocore.loaders import Loader
    except ImportError:  # the SDK extra is not installed; the service will judge
        return set()
    model = _service_model_json(Loader)
    return set(model.get("shapes", {}).get("TrainingInstanceType", {}).get("enum", []))


_MODEL_CACHE: dict[str, Any] = {}


def _service_model_json(loader_cls: Any) -> dict[str, Any]:
    if "sagemaker" not in _MODEL_CACHE:
        _MODEL_CACHE["sagemaker"] = loader_cls().load_service_model("sagemaker", "service-2")
    return _MODEL_CACHE["sagemaker"]


def _code_problems(spec: HpoConfig) -> list[Problem]:
    entry = spec.training.entry_point
    if not entry.endswith((".py", ".sh")):
        return [
            Problem(
                "training.entry_point",
                entry,
                "SageMaker script mode runs a .py or .sh entry script; point entry_point at one",
            )
        ]
    return []  # inside source_dir: the config's own rule (spec.training), the same on every backend


def code_missing(spec: HpoConfig) -> str | None:
    """Why the training code cannot be read from here, or None when it can (submit needs it; plan does not)."""
    source = Path(spec.training.source_dir)
    if not source.is_dir():
        return f"training.source_dir {str(source)!r} is not a directory (relative to {Path.cwd()})"
    if not (source / spec.training.entry_point).is_file():
        return f"training.entry_point {spec.training.entry_point!r} is not a file in {str(source)!r}"
    return None


def _s3_problems(section: SageMakerBackend) -> list[Problem]:
    found = []
    for key in ("output_path", "checkpoint_s3_uri"):
        value = getattr(section, key)
        if value is not None and not _is_s3(value):
            found.append(
                Problem(f"backends.sagemaker.{key}", value, "must be an S3 URI, e.g. s3://my-bucket/hpo/output")
            )
    return found


def _spot_problems(section: SageMakerBackend, trial_timeout: int | None) -> list[Problem]:
    if not section.use_spot:
        return []
    max_run = section.max_run_seconds or trial_timeout or 3600  # the SDK's default max run time
    if section.max_wait_seconds is None:
        return [
            Problem(
                "backends.sagemaker.max_wait_seconds",
                MISSING,
                "spot training needs how long to wait for spot capacity plus the run itself; "
                f"set max_wait_seconds >= max_run_seconds ({max_run}), e.g. {2 * max_run}",
            )
        ]
    if section.max_wait_seconds < max_run:
        return [
            Problem(
                "backends.sagemaker.max_wait_seconds",
                section.max_wait_seconds,
                f"SageMaker needs max_wait_seconds >= max_run_seconds ({max_run}); raise it to at least {max_run}",
            )
        ]
    return []


def _vpc_problems(section: SageMakerBackend) -> list[Problem]:
    subnets, groups = section.subnets, section.security_group_ids
    if bool(subnets) != bool(groups):
        missing = "security_group_ids" if subnets else "subnets"
        return [
            Problem(
                f"backends.sagemaker.{missing}",
                MISSING,
                "a VPC needs both subnets and security_group_ids; give both, or neither to run outside a VPC",
            )
        ]
    found = []
    if len(groups) > 5:
        found.append(Problem("backends.sagemaker.security_group_ids", len(groups), "SageMaker takes at most 5"))
    if len(subnets) > 16:
        found.append(Problem("backends.sagemaker.subnets", len(subnets), "SageMaker takes at most 16"))
    return found


def _training_inputs(spec: HpoConfig, problems: list[Problem]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """training.inputs as channels (with backends.sagemaker.inputs), the variables that name them in the
    container, and the static hyperparameters that pass them as flags (training.input_flags)."""
    section = backend_section(spec)
    inputs = dict(section.inputs)
    env: dict[str, str] = {}
    flags: dict[str, str] = {}
    for name, data in spec.training.inputs.items():
        path = f"training.inputs.{name}.sagemaker"
        if data.sagemaker is None:
            problems.append(Problem(path, None, "SageMaker needs this input too; give the s3:// prefix of its data"))
            continue
        if name in section.inputs and section.inputs[name] != data.sagemaker:
            problems.append(
                Problem(f"backends.sagemaker.inputs.{name}", section.inputs[name], f"differs from {path}; keep one")
            )
            continue
        inputs[name] = data.sagemaker
        if spec.training.input_flags:
            flags[name] = f"{CONTAINER_INPUT_DIR}/{name}"
    for name in inputs:  # the toolkit sets SM_CHANNEL_<NAME>; HPO_INPUT_<NAME> where it can be a variable
        if ENV_KEY.match(name):
            env[input_vars(name)[0]] = f"{CONTAINER_INPUT_DIR}/{name}"
    return inputs, env, flags


def _hyperparameter_problems(spec: HpoConfig, static: dict[str, Any]) -> list[Problem]:
    found = []
    names = set(static) | set(spec.tuning.hyperparameter_ranges)
    for name in sorted(names):
        if name.startswith(SDK_HYPERPARAMETER_PREFIX):
            where = "training.hyperparameters" if name in static else "tuning.hyperparameter_ranges"
            found.append(
                Problem(
                    f"{where}.{name}",
                    MISSING,
                    f"names starting with '{SDK_HYPERPARAMETER_PREFIX}' are the SageMaker SDK's own; rename it",
                )
            )
    # sagemaker_program and sagemaker_submit_directory are added to the static ones.
    if len(names) + 2 > MAX_HYPERPARAMETERS:
        found.append(
            Problem(
                "training.hyperparameters",
                f"{len(names)} hyperparameters",
                f"SageMaker passes at most {MAX_HYPERPARAMETERS} (2 are the SDK's); fold some into a config file",
            )
        )
    return found


def _environment_problems(environment: dict[str, str], where: str) -> list[Problem]:
    return [
        Problem(
            f"{where}.{key}",
            MISSING,
            "SageMaker environment variable names are letters, digits and _, not starting with a digit",
        )
        for key in environment
        if not ENV_KEY.match(key)
    ]


def _input_problems(inputs: dict[str, str]) -> list[Problem]:
    found = []
    for name, uri in inputs.items():
        path = f"backends.sagemaker.inputs.{name}"
        if not CHANNEL.match(name):
            found.append(Problem(path, MISSING, "channel names are 1-64 letters, digits, '.', '-' and '_'"))
        elif name in SDK_CHANNELS:
            found.append(Problem(path, MISSING, f"'{name}' is a channel the SageMaker SDK adds itself; rename it"))
        if not _is_s3(uri):
            found.append(
                Problem(
                    path,
                    uri,
                    "a tuning job reads its data from S3; upload it first (aws s3 sync <dir> s3://bucket/prefix) "
                    "and give the s3:// URI",
                )
            )
    if len(inputs) + 1 > MAX_CHANNELS:
        found.append(
            Problem(
                "backends.sagemaker.inputs",
                f"{len(inputs)} channels",
                f"SageMaker takes at most {MAX_CHANNELS} channels, one of which is the SDK's code channel",
            )
        )
    return found


def _tag_problems(user_tags: dict[str, str], total: int) -> list[Problem]:
    found = []
    for key, value in user_tags.items():
        path = f"backends.sagemaker.tags.{key}"
        if key.lower().startswith("aws:"):
            found.append(Problem(path, MISSING, "tag keys starting with 'aws:' are reserved by AWS; rename it"))
        elif key.startswith(TAG_PREFIX):
            found.append(Problem(path, MISSING, f"tag keys starting with '{TAG_PREFIX}' are hpo-flow's own"))
        elif not (1 <= len(key) <= 128 and TAG_TEXT.match(key)):
            found.append(Problem(path, MISSING, "tag keys are 1-128 letters, digits, spaces and _ . : / = + - @"))
        if not (len(value) <= 256 and TAG_TEXT.match(value)):
            found.append(Problem(path, value, "tag values are up to 256 letters, digits, spaces and _ . : / = + - @"))
    if total > MAX_TAGS:
        found.append(
            Problem("backends.sagemaker.tags", f"{total} tags", f"AWS allows {MAX_TAGS} tags; 3 are hpo-flow's")
        )
    return found


def _script_contract_problems(spec: HpoConfig) -> list[Problem]:
    """What SageMaker's tuner cannot do for a script written for another home: its training toolkit
    builds the command line, and the tuner reads the objective from the log, never from MLflow."""
    found = []
    if spec.training.arguments is not None:
        found.append(
            Problem(
                "training.arguments",
                " ".join(spec.training.arguments),
                "SageMaker's training toolkit writes the command line itself (--name value for every "
                "hyperparameter, -C for a one-letter name); remove training.arguments and let the script "
                "take those flags, or run this sweep on another backend (--backend local or azure)",
            )
        )
    objective = spec.tuning.objective_metric
    if spec.training.metric(objective) is None:
        found.append(
            Problem(
                "tuning.objective_metric",
                objective,
                "SageMaker reads the objective from the trial's log, not from MLflow; print it "
                f"(hpo_flow.report(...) prints and logs it) and add {{Name: {objective}, "
                f'Regex: "{objective}: ([0-9.]+)"}} to training.metric_definitions',
            )
        )
    return found


def _regex_problems(spec: HpoConfig) -> list[Problem]:
    return [
        Problem(
            f"training.metric_definitions.{index}.Regex",
            metric.Regex,
            "SageMaker takes regexes of at most 500 characters",
        )
        for index, metric in enumerate(spec.training.metric_definitions)
        if len(metric.Regex) > 500
    ]


def _is_s3(uri: str) -> bool:
    return bool(re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", uri))


def _g(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)
