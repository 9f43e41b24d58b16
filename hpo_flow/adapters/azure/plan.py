"""The config's sweep as Azure ML's own sweep-job YAML: what `az ml job create --file` takes.

Pure Python (no azure.* import): `hpo-flow plan --backend azure` prints it in milliseconds, and
`submit` hands the very same document to `azure.ai.ml.load_job`, so what the plan shows is what
is sent. Everything the service cannot do exactly is refused here, at plan time, with the key
path, the value and the nearest exact alternative.

How each range is expressed (Azure's definitions; our bounds are in the parameter's own units):

| our range                              | Azure distribution and what it samples                          |
|----------------------------------------|-----------------------------------------------------------------|
| categorical / choice                   | choice(values): one of the values, uniformly                    |
| continuous Linear/Auto (uniform)       | uniform(min, max)                                               |
| continuous Linear + step (quniform)    | quniform(min, max, q) = round(uniform(min, max) / q) * q         |
| continuous Logarithmic (loguniform)    | loguniform(ln min, ln max) = exp(uniform(ln min, ln max))         |
| continuous Logarithmic + step          | qloguniform(ln min, ln max, q) = round(exp(uniform(..)) / q) * q |
| integer Linear/Auto, min 0, no step    | randint(max + 1): an integer in [0, max + 1), uniformly          |
| integer Linear/Auto, other             | quniform(min, max, step or 1)                                   |
| integer Logarithmic                    | qloguniform(ln min, ln max, step or 1)                           |
| normal / qnormal                       | normal(mu, sigma) / round(normal(mu, sigma) / q) * q             |
| lognormal / qlognormal                 | exp(normal(mu, sigma)) / round(exp(normal(mu, sigma)) / q) * q   |
| anything under strategy Grid           | choice(every value of the range) (Azure's grid takes choice only)|

A quantized range is exact only when min and max are multiples of q: otherwise
round(uniform(min, max) / q) * q can fall outside [min, max] (min 0.1, q 0.2 gives 0.0).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from hpo_flow.adapters.azure.backend import BACKEND as INFO
from hpo_flow.adapters.errors import PlanError, Problem
from hpo_flow.adapters.spec import (
    AzureBackend,
    AzureEnvironment,
    EarlyStoppingPolicy,
    HpoConfig,
    ParamRange,
    RangeType,
    Scaling,
    Strategy,
    flag,
    input_env_vars,
)
from hpo_flow.adapters.spec.arguments import INPUTS, PLACEHOLDER, SEARCH_SPACE
from hpo_flow.launch import FIXED_VAR, METRICS_VAR
from hpo_flow.report import MODEL_DIR_VARS

LAUNCHER = "hpo_flow.launch"  # shipped with the code (hpo_flow.adapters.trial_code)

BACKEND = INFO.name
SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json"
# Where a trial saves its model: Azure ML uploads ./outputs of every job to the job's artifacts,
# so the model of trial <child> is at azureml://jobs/<child>/outputs/artifacts/paths/outputs/model.
MODEL_DIR = "outputs/model"
TAG_PROJECT = "hpo-flow.project"
TAG_CONFIG_HASH = "hpo-flow.config_hash"
TAG_WARM_START = "hpo-flow.warm_start"
INPUT_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")
# Azure ML's conservative default (its tuning guide): median stopping, every interval, after 5.
AUTO_DELAY_EVALUATION = 5
# Sweep limits from Azure ML's tuning guide ("Set limits for your sweep job"): max_total_trials and
# max_concurrent_trials "must be an integer between 1 and 1000". azure-ai-ml's schema has no bound,
# so without this the service refuses the job only after the code snapshot is uploaded.
MAX_TOTAL_TRIALS = 1000
MAX_CONCURRENT_TRIALS = 1000

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JOB_NAME_MAX = 255


class _Refusal(Exception):
    def __init__(self, path: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(path, value, message)


def job_name(spec: HpoConfig) -> str:
    """The sweep's Azure job name: the config's deterministic sweep name within Azure's rules
    (letters, digits, '-' and '_', starting with a letter or digit, at most 255 characters)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", spec.sweep_name(_JOB_NAME_MAX)).lstrip("-_")
    return name[:_JOB_NAME_MAX] or f"sweep-{spec.config_hash()}"


def search_space_key(name: str) -> str:
    """Azure's search-space keys are identifiers; `learning-rate` is sampled as `learning_rate`
    and still passed to the script as `--learning-rate`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def sweep_job(spec: HpoConfig) -> dict[str, Any]:
    """The sweep job in Azure ML's YAML form (CLI v2 sweepJob schema); raises PlanError listing
    everything Azure ML cannot run exactly as configured."""
    problems: list[Problem] = []
    azure = spec.backends.azure or AzureBackend()
    t = spec.tuning

    search_space: dict[str, Any] = {}
    flags: list[tuple[str, str]] = []  # (--flag, ${{search_space.key}})
    seen: dict[str, str] = {}
    for name, r in t.hyperparameter_ranges.items():
        key = search_space_key(name)
        if key in seen:
            problems.append(
                Problem(
                    f"tuning.hyperparameter_ranges.{name}",
                    name,
                    f"Azure ML names search-space entries with letters, digits and '_' only, so this and "
                    f"'{seen[key]}' would both be '{key}'; rename one of them",
                )
            )
            continue
        seen[key] = name
        try:
            search_space[key] = distribution(f"tuning.hyperparameter_ranges.{name}", r, t.strategy)
        except _Refusal as refusal:
            problems.append(refusal.problem)
            continue
        flags.append((name, _quoted("${{search_space." + key + "}}")))

    sampling = _sampling(spec, problems)
    early = _early_termination(spec, problems)
    _unsupported_tuning(spec, problems)
    _limit_problems(spec, problems)

    inputs: dict[str, Any] = {}
    input_flags: list[tuple[str, str]] = []
    input_env: list[str] = []
    for name, value, path, as_flag in _all_inputs(spec, azure, problems):
        if not _KEY.match(name):
            problems.append(Problem(path, name, "Azure ML input names use letters, digits and '_'; rename it"))
            continue
        if as_flag and (name in t.hyperparameter_ranges or name in spec.training.hyperparameters):
            problems.append(
                Problem(path, name, f"this name is also a hyperparameter; both would be {flag(name)}; rename one")
            )
            continue
        try:
            inputs[name] = _input(path, value)
        except _Refusal as refusal:
            problems.append(refusal.problem)
            continue
        expression = _quoted("${{inputs." + name + "}}")
        input_env += [f"{var}={value}" for var, value in input_env_vars(name, expression).items()]
        if as_flag:
            input_flags.append((name, expression))

    fixed: list[tuple[str, str]] = []
    for name, fixed_value in spec.fixed_hyperparameters().items():
        path = f"training.hyperparameters.{name}"  # a secret-looking name never gets here: see spec.base
        text = str(fixed_value)
        if "${{" in text:
            problems.append(Problem(path, fixed_value, "Azure ML would read '${{' as an expression; remove it"))
            continue
        fixed.append((name, shlex.quote(text)))

    if not azure.environment:
        problems.append(
            Problem(
                "backends.azure.environment",
                None,
                "an Azure ML sweep needs the trial's environment, e.g. "
                '"azureml:my-env:3", "azureml:my-env@latest" or '
                '"azureml://registries/azureml/environments/sklearn-1.5/labels/latest"',
            )
        )
    if problems:
        raise PlanError(BACKEND, problems)

    # Each input's mount path reaches the script as HPO_INPUT_<NAME> and SM_CHANNEL_<NAME>, as on the
    # other backends: job environment variables cannot hold ${{inputs.*}}, the command line can.
    # Through the shipped launcher (hpo_flow.launch): it sets the SageMaker training toolkit's
    # variables from the trial's values, so a script written for SageMaker runs here unchanged.
    argv = [*input_env, "python", "-m", LAUNCHER, shlex.quote(spec.training.entry_point)]
    if spec.training.arguments is not None:  # the user's own command line, as their Azure ML command had it
        expressions = {(SEARCH_SPACE, name): expression for name, expression in flags}
        expressions.update({(INPUTS, name): expression for name, expression in fixed})
        expressions.update({(INPUTS, name): _quoted("${{inputs." + name + "}}") for name in spec.training.inputs})
        argv += [_command_word(argument, expressions) for argument in spec.training.arguments]
        flags, fixed = [], []
    for name, expression in [*flags, *fixed, *input_flags]:
        argv += [flag(name), expression]

    env = {**spec.training.environment, **azure.environment_variables}
    for var in MODEL_DIR_VARS:
        env.setdefault(var, MODEL_DIR)
    if spec.fixed_hyperparameters():  # the toolkit's SM_HPS holds them beside the sampled ones
        env[FIXED_VAR] = json.dumps(spec.fixed_hyperparameters(), sort_keys=True, separators=(",", ":"))
    if spec.training.metric_definitions:  # read from the output and logged to the trial's run, as Azure reads it
        definitions = [{"Name": m.Name, "Regex": m.Regex} for m in spec.training.metric_definitions]
        env[METRICS_VAR] = json.dumps(definitions, separators=(",", ":"))

    trial: dict[str, Any] = {
        "code": spec.training.source_dir,
        "command": " ".join(argv),
        "environment": (
            azure.environment.model_dump() if isinstance(azure.environment, AzureEnvironment) else azure.environment
        ),
        "environment_variables": env,
        "resources": {"instance_count": azure.instance_count},
    }
    limits: dict[str, Any] = {
        "max_total_trials": t.max_jobs,
        # more than max_jobs at once cannot happen; Azure rejects concurrent > total
        "max_concurrent_trials": min(t.max_parallel_jobs, t.max_jobs),
    }
    if t.max_runtime_seconds is not None:
        limits["timeout"] = t.max_runtime_seconds
    if t.trial_timeout_seconds is not None:
        limits["trial_timeout"] = t.trial_timeout_seconds

    doc: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "type": "sweep",
        "name": job_name(spec),
        "display_name": spec.sweep_name(),
        "experiment_name": azure.experiment_name or spec.project,
        "description": f"hpo-flow sweep of {spec.project} (config {spec.config_hash()})",
        "tags": {**azure.tags, TAG_PROJECT: spec.project, TAG_CONFIG_HASH: spec.config_hash()},
    }
    if spec.lineage is not None and spec.lineage.parents:
        # Azure ML sweeps have no warm start: a later generation says so, and starts cold.
        cold = (
            f"none: Azure ML sweeps cannot warm-start, so generation {spec.generation} starts cold "
            f"(earlier: {', '.join(spec.lineage.parents)})"
        )
        doc["description"] += f"; warm start {cold}"
        doc["tags"][TAG_WARM_START] = cold[:256]
    if azure.compute:
        doc["compute"] = azure.compute if azure.compute.startswith("azureml:") else f"azureml:{azure.compute}"
    if inputs:
        doc["inputs"] = inputs
    doc["trial"] = trial
    doc["search_space"] = search_space
    doc["sampling_algorithm"] = sampling
    doc["objective"] = {"goal": t.objective_type.value.lower(), "primary_metric": t.objective_metric}
    if early is not None:
        doc["early_termination"] = early
    doc["limits"] = limits
    return doc


# --------------------------------------------------------------------------- search space


def distribution(path: str, r: ParamRange, strategy: Strategy) -> dict[str, Any]:
    """One range as an Azure distribution, exactly, or a _Refusal naming the nearest exact form."""
    kind = r.written_as or r.type.value
    bayesian = strategy == Strategy.Bayesian
    if r.type == RangeType.categorical:
        flags = [v for v in r.values or [] if isinstance(v, bool)]
        if flags:
            raise _Refusal(
                f"{path}.values",
                flags[0],
                "Azure ML's choice takes numbers and strings, not true/false; list them as strings "
                "('true', 'false') or as 0/1 and read them so in the script",
            )
        unsafe = [v for v in r.values or [] if isinstance(v, str) and ("'" in v or "\n" in v or "${{" in v)]
        if unsafe:
            raise _Refusal(
                f"{path}.values",
                unsafe[0],
                "Azure ML writes the sampled value into the command line inside single quotes, so a quote, "
                "a line break or '${{' cannot be passed; spell the value without them",
            )
        return {"type": "choice", "values": list(r.values or [])}
    if strategy == Strategy.Grid:
        if not r.is_finite:
            raise _Refusal(
                f"{path}.type",
                kind,
                "Azure ML's grid sampling enumerates choice values only and this range has no finite set; "
                "give it a step, make it categorical or integer, or use strategy Random",
            )
        return {"type": "choice", "values": r.grid_values()}
    if r.type in (RangeType.normal, RangeType.lognormal):
        if bayesian:
            raise _Refusal(
                f"{path}.type",
                kind,
                "Azure ML's Bayesian sampling takes only choice, uniform and quniform ranges; "
                "use strategy Random to keep this distribution, or a uniform range",
            )
        name = ("q" if r.step is not None else "") + r.type.value
        out: dict[str, Any] = {"type": name, "mu": _number(r.mu), "sigma": _number(r.sigma)}
        if r.step is not None:
            out["q"] = _number(r.step)
        return out

    assert r.min is not None and r.max is not None  # the config model guarantees bounds here
    lo, hi = r.min, r.max
    if r.scaling_type == Scaling.ReverseLogarithmic:
        raise _Refusal(
            f"{path}.scaling_type",
            "ReverseLogarithmic",
            "Azure ML has no distribution dense near 1 (ReverseLogarithmic is 1 - loguniform(1 - max, 1 - min)); "
            f"tune the complement instead: a Logarithmic range min {_num_text(1 - hi)}, max {_num_text(1 - lo)} "
            "used as 1 - value in the script, or Linear scaling",
        )
    integer = r.type == RangeType.integer
    if r.is_log:
        if bayesian:
            raise _Refusal(
                f"{path}.scaling_type",
                "Logarithmic",
                "Azure ML's Bayesian sampling takes only choice, uniform and quniform ranges, so no log scale; "
                "use strategy Random to keep the log scale, or list log-spaced values as categorical "
                "(e.g. [0.0001, 0.001, 0.01])",
            )
        q = r.step if r.step is not None else (1 if integer else None)
        # Azure's log bounds are natural-log exponents; log_base does not change a log-uniform
        # distribution (log_b x is a linear rescaling of ln x), so it needs no conversion.
        bounds = {"min_value": math.log(lo), "max_value": math.log(hi)}
        if q is None:
            return {"type": "loguniform", **bounds}
        _check_multiples(path, kind, lo, hi, q, log=True)
        return {"type": "qloguniform", **bounds, "q": _number(q)}
    if integer or r.step is not None:
        q = r.step if r.step is not None else 1
        if integer and lo == 0 and q == 1 and not bayesian:
            return {"type": "randint", "upper": int(hi) + 1}
        _check_multiples(path, kind, lo, hi, q)
        return {"type": "quniform", "min_value": _number(lo), "max_value": _number(hi), "q": _number(q)}
    return {"type": "uniform", "min_value": _number(lo), "max_value": _number(hi)}


def _check_multiples(path: str, kind: str, lo: float, hi: float, q: float, log: bool = False) -> None:
    off = [(key, v) for key, v in (("min", lo), ("max", hi)) if not _is_multiple(v, q)]
    if off:
        key, value = off[0]
        near = math.floor(lo / q) * q if key == "min" else math.ceil(hi / q) * q
        if log and near <= 0:  # a log scale has no 0: the first multiple above min instead
            near = math.ceil(lo / q) * q
        raise _Refusal(
            f"{path}.{key}",
            value,
            f"Azure ML quantizes as round(value / q) * q, which stays within [min, max] only when both are "
            f"multiples of the step ({_num_text(q)}); use {key} {_num_text(near)}, or list the values as categorical",
        )


def _is_multiple(value: float, q: float) -> bool:
    ratio = value / q
    return abs(ratio - round(ratio)) < 1e-9 * max(1.0, abs(ratio))


def _number(value: float | None) -> int | float:
    assert value is not None
    f = float(value)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def _num_text(value: float) -> str:
    return repr(_number(round(value, 12)))


# --------------------------------------------------------------------------- sampling, policy, limits


def _sampling(spec: HpoConfig, problems: list[Problem]) -> dict[str, Any]:
    t = spec.tuning
    if t.strategy == Strategy.Random:
        out: dict[str, Any] = {"type": "random"}
        if t.random_seed is not None:
            out["seed"] = t.random_seed
        return out
    if t.strategy == Strategy.Grid:
        return {"type": "grid"}
    if t.strategy == Strategy.Bayesian:
        if t.early_stopping.policy != EarlyStoppingPolicy.off:
            problems.append(
                Problem(
                    "tuning.early_stopping.policy",
                    t.early_stopping.policy.value,
                    "Azure ML's Bayesian sampling does not allow an early-termination policy (each trial informs the "
                    "next, so none is cut short); set policy: off, or use strategy Random to keep early stopping",
                )
            )
        return {"type": "bayesian"}
    problems.append(
        Problem(
            "tuning.strategy",
            t.strategy.value,
            "Azure ML sweeps have no Hyperband; use strategy Random with early_stopping "
            "{policy: bandit, slack_factor: 0.1, evaluation_interval: 1}, Azure's own early termination",
        )
    )
    return {"type": "random"}


def _early_termination(spec: HpoConfig, problems: list[Problem]) -> dict[str, Any] | None:
    es = spec.tuning.early_stopping
    every = {"evaluation_interval": es.evaluation_interval, "delay_evaluation": es.delay_evaluation}
    policy = es.policy
    if policy == EarlyStoppingPolicy.off or spec.tuning.strategy == Strategy.Bayesian:
        return None  # Bayesian with a policy was refused in _sampling
    if policy == EarlyStoppingPolicy.bandit:
        slack = {"slack_factor": es.slack_factor} if es.slack_factor is not None else {"slack_amount": es.slack_amount}
        return {"type": "bandit", **slack, **every}
    if policy == EarlyStoppingPolicy.median:
        return {"type": "median_stopping", **every}
    if policy == EarlyStoppingPolicy.truncation:
        return {"type": "truncation_selection", "truncation_percentage": es.effective_truncation_percentage, **every}
    if policy == EarlyStoppingPolicy.auto:
        # "auto" asks for the service's safe default: Azure ML documents median stopping every
        # interval after 5 as its conservative policy (no loss of the best run in its evaluation).
        delay = es.delay_evaluation if "delay_evaluation" in es.model_fields_set else AUTO_DELAY_EVALUATION
        return {"type": "median_stopping", "evaluation_interval": es.evaluation_interval, "delay_evaluation": delay}
    problems.append(
        Problem(
            "tuning.early_stopping.policy",
            policy.value,
            "Azure ML has no ASHA (successive halving); the nearest are truncation (cancels the worst "
            "truncation_percentage% at every interval) or bandit (slack from the best run)",
        )
    )
    return None


def _limit_problems(spec: HpoConfig, problems: list[Problem]) -> None:
    for key, value, limit, what in (
        ("max_jobs", spec.tuning.max_jobs, MAX_TOTAL_TRIALS, "trials in one sweep job"),
        ("max_parallel_jobs", spec.tuning.max_parallel_jobs, MAX_CONCURRENT_TRIALS, "trials at once"),
    ):
        if value > limit:
            problems.append(
                Problem(f"tuning.{key}", value, f"Azure ML runs at most {limit} {what}; set {limit} or less")
            )


def _unsupported_tuning(spec: HpoConfig, problems: list[Problem]) -> None:
    t = spec.tuning
    if t.warm_start is not None:
        problems.append(
            Problem("tuning.warm_start", t.warm_start.parents, "Azure ML sweeps cannot warm-start; remove it")
        )
    if t.completion_criteria is not None:
        problems.append(
            Problem(
                "tuning.completion_criteria",
                t.completion_criteria.model_dump(exclude_none=True),
                "Azure ML sweeps end only on their limits (max_jobs, max_runtime_seconds); remove it",
            )
        )
    if t.max_failed_trials is not None:
        problems.append(
            Problem(
                "tuning.max_failed_trials",
                t.max_failed_trials,
                "Azure ML sweeps have no failed-trial limit and go on past failures; remove it",
            )
        )


# --------------------------------------------------------------------------- inputs


def _command_word(argument: str, expressions: dict[tuple[str, str], str]) -> str:
    """One argument of training.arguments as bash reads it: its literal parts quoted, each placeholder
    the (quoted) expression Azure ML fills in, so the whole stays one argument."""
    parts: list[str] = []
    at = 0
    for match in PLACEHOLDER.finditer(argument):
        if match.start() > at:
            parts.append(shlex.quote(argument[at : match.start()]))
        parts.append(expressions[(match[1], match[2])])
        at = match.end()
    if at < len(argument) or not parts:
        parts.append(shlex.quote(argument[at:]))
    return "".join(parts)


def _quoted(expression: str) -> str:
    """`'${{...}}'`: Azure ML puts the value in place of the expression and bash runs the command, so a
    sampled or mounted value with a space or a shell character still arrives as one argument."""
    return f"'{expression}'"


def _all_inputs(spec: HpoConfig, azure: AzureBackend, problems: list[Problem]) -> list[tuple[str, str, str, bool]]:
    """(name, value, config path, passed as --name) for training.inputs and backends.azure.inputs;
    the backend's own stay flags, as they always were."""
    found: list[tuple[str, str, str, bool]] = []
    for name, data in spec.training.inputs.items():
        path = f"training.inputs.{name}.azure"
        if data.azure is None:
            problems.append(Problem(path, None, "Azure ML needs this input too; give its data asset or URI"))
        elif name in azure.inputs and azure.inputs[name] != data.azure:
            problems.append(
                Problem(f"backends.azure.inputs.{name}", azure.inputs[name], f"differs from {path}; keep one")
            )
        elif name not in azure.inputs:
            found.append((name, data.azure, path, spec.training.input_flags))
    for name, value in azure.inputs.items():
        found.append((name, value, f"backends.azure.inputs.{name}", True))
    return found


def _input(path: str, value: str) -> dict[str, Any]:
    """`azureml:name:version`, `azureml:name@latest`, a URI or a local path; `uri_file:<path>` (any of
    INPUT_TYPES as a prefix) gives the input's type where it cannot be told from the path."""
    head, sep, rest = value.partition(":")
    if sep and head in INPUT_TYPES:
        if not rest:
            raise _Refusal(path, value, f"nothing after '{head}:'; write {head}:<data asset or URI>")
        return {"type": head, "path": rest}
    if value.startswith("azureml:") and not value.startswith("azureml://"):
        # a data asset: its type is the asset's own, which only the workspace knows
        return {"type": "uri_folder", "path": value}
    kind = "uri_file" if PurePosixPath(value.rstrip("/")).suffix and not value.endswith("/") else "uri_folder"
    return {"type": kind, "path": value}
