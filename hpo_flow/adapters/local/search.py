"""The local backend's search: a config's ranges, strategy and early stopping as Optuna objects.

Every range of the config model is drawn with exactly the distribution it names:

| range                                   | how Optuna draws it                                              |
|-----------------------------------------|------------------------------------------------------------------|
| continuous Linear/Auto                  | FloatDistribution(min, max)                                      |
| continuous Linear + step (quniform)     | FloatDistribution(step=step); IntDistribution when all whole     |
| continuous Logarithmic (loguniform)     | FloatDistribution(log=True)                                      |
| continuous Logarithmic + step (qlog...) | latent log-uniform value, rounded to a multiple of step          |
| continuous ReverseLogarithmic           | latent y log-uniform on [1-max, 1-min], value = 1 - y            |
| integer Linear/Auto (+ step)            | IntDistribution(step=step or 1)                                  |
| integer Logarithmic                     | IntDistribution(log=True); with a step > 1, as qloguniform       |
| categorical                             | CategoricalDistribution(values)                                  |
| normal / lognormal (+ q)                | latent u ~ U(0, 1) through the normal inverse CDF (then exp, q)  |

Where Optuna has no native distribution (the last three kinds of rows with a transform) the study
holds a latent parameter named `<name>:<kind>` and the trial receives the transformed value.
`received_params()` turns any trial's Optuna params back into what the trial received, so the
record of a trial always shows the value the script was given, never the latent one.

Under the Grid strategy every parameter is a categorical over `ParamRange.grid_values()`, which is
what Optuna's GridSampler enumerates.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.local import optuna_access
from hpo_flow.adapters.local.pruners import BanditPruner, MedianStoppingPruner, TruncationPruner
from hpo_flow.adapters.spec import EarlyStoppingPolicy, HpoConfig, ParamRange, RangeType, Scaling, Strategy

Scalar = bool | int | float | str

# u is kept this far from 0 and 1 so the inverse CDF stays finite: +-6 sigma, beyond which a
# normal draw falls once in 500 million.
_U_EPS = 1e-9
# TPE's default: 10 random trials before the model takes over. See docs/search.md.
STARTUP_TRIALS = 10
# The Gaussian process's random startup trials: with its kernel integrated out it models 5 trials
# soundly, and starting at 5 rather than GPSampler's 10 took Hartmann-6's median regret at 25 trials
# from 0.53 to 0.28 of TPE's (docs/search.md).
GP_STARTUP_TRIALS = 5
# Above this many trials the Bayesian strategy fits TPE instead of a Gaussian process: a GP's fit
# grows with the cube of the trials (one suggestion took 1.3 s at 400 trials and 2 s at 800 on a
# 2-core machine, against TPE's 0.05 s) and blocks the runner's loop while it runs, and by then
# TPE has caught up (docs/search.md).
GP_MAX_TRIALS = 300
# `auto` early stopping: see AUTO_POLICY's use in build_pruner and docs/search.md for why.
AUTO_POLICY = EarlyStoppingPolicy.median
AUTO_DELAY = 5


@dataclass(frozen=True)
class ParamDraw:
    """How one hyperparameter is drawn: the Optuna name and distribution, and the map to its value."""

    name: str
    optuna_name: str
    distribution: BaseDistribution
    transform: Callable[[Any], Scalar] | None = None
    note: str = ""

    def value(self, raw: Any) -> Scalar:
        return self.transform(raw) if self.transform else raw


# --------------------------------------------------------------------------- ranges


def _quantizer(step: float, low: float | None, high: float | None, integral: bool) -> Callable[[float], Scalar]:
    """round(x / step) * step (hyperopt's and Azure's q-rounding), kept inside [low, high].

    hyperopt can round a value out of its bounds (qloguniform(1e-6, 1e-2, 1e-4) yields 0); here the
    multiple is clamped to the nearest one inside the bounds, so a trial never gets a value the
    config's range excludes (there always is one: the config model keeps step <= max - min).
    """
    k_lo = math.ceil(low / step - 1e-9) if low is not None else None
    k_hi = math.floor(high / step + 1e-9) if high is not None else None

    def quantize(x: float) -> Scalar:
        k = round(x / step)
        if k_lo is not None:
            k = max(k, k_lo)
        if k_hi is not None:
            k = min(k, k_hi)
        if integral:
            return int(k * round(step))
        return float(f"{k * step:.12g}")  # 0.30000000000000004 -> 0.3

    return quantize


def _then(first: Callable[[float], float], second: Callable[[float], Scalar] | None) -> Callable[[float], Scalar]:
    if second is None:
        return first
    return lambda raw: second(first(raw))


def _step_integral(step: float | None) -> bool:
    return step is not None and float(step).is_integer()


def param_draw(name: str, r: ParamRange, grid: bool = False) -> ParamDraw:
    """The draw of one range; raises ValueError for what cannot be drawn (local_problems says why first)."""
    if grid:
        if not r.is_finite:
            raise ValueError(f"{name}: Grid needs a finite range; {r.written_as or r.type.value} has no finite set")
        return ParamDraw(name, name, CategoricalDistribution(tuple(r.grid_values())), note="grid")
    if r.type == RangeType.categorical:
        return ParamDraw(name, name, CategoricalDistribution(tuple(r.values or ())))
    if r.type in (RangeType.normal, RangeType.lognormal):
        return _normal_draw(name, r)
    assert r.min is not None and r.max is not None  # the config model guarantees bounds here
    lo, hi, step = r.min, r.max, r.step
    if r.type == RangeType.integer:
        if r.is_log and step is not None and step > 1:
            # Optuna cannot combine log and step: drawn like qloguniform, then an int.
            q = _quantizer(step, lo, hi, integral=True)
            return ParamDraw(
                name, f"{name}:log", FloatDistribution(lo, hi, log=True), q, "log-uniform, rounded to step"
            )
        if r.is_log:
            return ParamDraw(name, name, IntDistribution(int(lo), int(hi), log=True))
        return ParamDraw(name, name, IntDistribution(int(lo), int(hi), step=int(step or 1)))
    # continuous
    if r.scaling_type == Scaling.ReverseLogarithmic:
        # SageMaker: values close to 1 are drawn more densely. x = 1 - y with y log-uniform on
        # [1 - max, 1 - min]; the range check guarantees 0 <= min < max < 1, so 1 - max > 0.
        flip: Callable[[float], float] = lambda y: 1.0 - y  # noqa: E731
        on_grid = _quantizer(step, lo, hi, r.is_integral) if step is not None else None
        return ParamDraw(
            name,
            f"{name}:1-x",
            FloatDistribution(1.0 - hi, 1.0 - lo, log=True),
            _then(flip, on_grid),
            "1 - log-uniform",
        )
    if r.is_log:
        # log_base does not matter: log_b(x) = ln(x) / ln(b) is a linear rescaling of ln(x), so
        # "uniform in log_b(x) over [log_b(min), log_b(max)]" is the same distribution for every b.
        if step is None:
            return ParamDraw(name, name, FloatDistribution(lo, hi, log=True))
        q = _quantizer(step, lo, hi, r.is_integral)
        return ParamDraw(name, f"{name}:log", FloatDistribution(lo, hi, log=True), q, "log-uniform, rounded to step")
    if step is None:
        return ParamDraw(name, name, FloatDistribution(lo, hi))
    if r.is_integral:
        return ParamDraw(name, name, IntDistribution(int(lo), int(hi), step=int(step)))
    return ParamDraw(name, name, FloatDistribution(lo, hi, step=step))


def _normal_draw(name: str, r: ParamRange) -> ParamDraw:
    """normal(mu, sigma), lognormal = exp(normal), and their q-forms, as Azure and hyperopt define them.

    Optuna has no normal prior, so the study holds u ~ U(0, 1) and the value is mu + sigma * Phi^-1(u):
    random search then draws exactly the normal, and TPE models u, where the normal prior is the
    uniform one. A whole-number q yields ints (like quniform over whole bounds).
    """
    assert r.mu is not None and r.sigma is not None
    mu, sigma = r.mu, r.sigma
    inv_cdf = NormalDist(mu, sigma).inv_cdf
    base: Callable[[float], float] = inv_cdf if r.type == RangeType.normal else (lambda u: math.exp(inv_cdf(u)))
    q = _quantizer(r.step, None, None, _step_integral(r.step)) if r.step is not None else None
    return ParamDraw(
        name, f"{name}:u", FloatDistribution(_U_EPS, 1.0 - _U_EPS), _then(base, q), f"{r.type.value} via inverse CDF"
    )


def param_draws(spec: HpoConfig) -> list[ParamDraw]:
    grid = spec.tuning.strategy == Strategy.Grid
    return [param_draw(name, r, grid) for name, r in spec.tuning.hyperparameter_ranges.items()]


def optuna_distributions(spec: HpoConfig) -> dict[str, BaseDistribution]:
    """The study's parameters: Optuna name (latent `<name>:<kind>` where transformed) -> distribution."""
    return {d.optuna_name: d.distribution for d in param_draws(spec)}


def _suggest(trial: optuna.trial.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)  # type: ignore[arg-type]
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"unsupported distribution {dist!r}")


def suggest_params(trial: optuna.trial.Trial, spec: HpoConfig) -> dict[str, Any]:
    """Draw every tuned hyperparameter for this trial, in its own units and type (ints are int)."""
    return {d.name: d.value(_suggest(trial, d.optuna_name, d.distribution)) for d in param_draws(spec)}


def received_params(optuna_params: Mapping[str, Any], spec: HpoConfig) -> dict[str, Any]:
    """The values a trial received, from its Optuna params (e.g. `FrozenTrial.params`).

    Parameters the trial never drew (a trial that failed before suggesting) are left out.
    """
    return {d.name: d.value(optuna_params[d.optuna_name]) for d in param_draws(spec) if d.optuna_name in optuna_params}


# --------------------------------------------------------------------------- sampler


class GridSearch(optuna.samplers.GridSampler):
    """Optuna's GridSampler for a runner that asks and tells.

    GridSampler calls `study.stop()` after the last grid point, which raises RuntimeError outside
    `study.optimize`; here the runner decides instead: it starts no trial when `points_left` is 0
    (every point finished or running; another ask would repeat a running point) and ends the
    sweep when `is_exhausted` (every point finished).
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None

    def points_left(self, study: optuna.Study) -> int:
        """Grid points that no trial, finished or running, has taken yet."""
        taken = {
            t.system_attrs["grid_id"]
            for t in optuna_access.all_trials(study)
            if "grid_id" in t.system_attrs
            and (t.state.is_finished() or t.state == optuna.trial.TrialState.RUNNING)
            and self._same_search_space(t.system_attrs["search_space"])
        }
        return self._n_min_trials - len(taken)

    @property
    def size(self) -> int:
        return self._n_min_trials


def _seed(spec: HpoConfig, worker: int) -> int | None:
    seed = spec.tuning.random_seed
    if seed is None:
        return None
    # Workers sharing one study over a database must not draw the same random sequence.
    return (seed + 7919 * worker) % 2**32


GP = "GPSampler"
TPE = "TPESampler"


@dataclass(frozen=True)
class BayesianModel:
    """The model the Bayesian strategy fits, and why (shown by `plan`)."""

    name: str  # GP or TPE
    reason: str
    # Why the model is not the one hpo-flow means to fit (Optuna lacks what MarginalGPSampler uses);
    # None when it is. With GP, a fallback means Optuna's plain GPSampler.
    fallback: str | None = None


def torch_available() -> bool:
    """Whether torch can be imported, found without importing it (that alone takes seconds)."""
    return importlib.util.find_spec("torch") is not None


def bayesian_model(spec: HpoConfig, torch_present: bool | None = None) -> BayesianModel:
    """The one rule for what Bayesian search fits: Optuna's GPSampler where it pays, TPE otherwise.

    A Gaussian process (what SageMaker's and Azure ML's Bayesian strategies fit) finds a good
    point in fewer trials than TPE (docs/search.md has the median regrets on Branin, Hartmann-6 and
    other standard functions), but it needs torch, costs more per suggestion as trials
    accumulate, and learns only from completed trials.
    """
    t = spec.tuning
    if t.strategy == Strategy.Hyperband or t.early_stopping.policy == EarlyStoppingPolicy.asha:
        return BayesianModel(
            TPE,
            "successive halving stops most trials early and a Gaussian process learns only from completed "
            "ones; TPE also learns from the stopped trials",
        )
    if t.max_jobs <= GP_STARTUP_TRIALS:
        return BayesianModel(
            TPE, f"max_jobs {t.max_jobs} <= {GP_STARTUP_TRIALS}: every trial is a random startup trial, no model is fit"
        )
    if t.max_jobs > GP_MAX_TRIALS:
        return BayesianModel(
            TPE,
            f"max_jobs {t.max_jobs} > {GP_MAX_TRIALS}: a Gaussian process's suggestion time grows with the cube "
            "of the trials; TPE's stays small",
        )
    odd = [d.name for d in param_draws(spec) if not isinstance(d.distribution, _GP_DISTRIBUTIONS)]
    if odd:
        return BayesianModel(TPE, f"GPSampler cannot model {', '.join(odd)}")
    if not (torch_available() if torch_present is None else torch_present):
        return BayesianModel(
            TPE,
            "torch is not installed; a Gaussian process (GPSampler) would be used with it: "
            "pip install torch (the CPU build is enough) into hpo-flow's environment",
        )
    from hpo_flow.adapters.local.marginal_gp import KERNEL_SAMPLES

    budget = f"{t.max_jobs} trials over {len(t.hyperparameter_ranges)} parameter(s)"
    missing = optuna_access.MARGINAL_GP_MISSING
    if not missing:
        return BayesianModel(
            GP,
            f"{budget}: a Gaussian process (Matern 5/2; expected improvement averaged over {KERNEL_SAMPLES} "
            "posterior draws of the kernel; running trials count through q-batch EI)",
        )
    lacking = (
        f"the installed Optuna {optuna.__version__} lacks {', '.join(missing)}, which hpo-flow's integrated-kernel "
        f"GP (MarginalGPSampler) uses; hpo-flow is tested with the Optuna pyproject.toml names"
    )
    if optuna_access.GP_SAMPLER_PRESENT:
        return BayesianModel(
            GP,
            f"{budget}: a Gaussian process (Matern 5/2; expected improvement under the one MAP fit of the "
            "kernel; running trials count through q-batch EI)",
            fallback=f"Optuna's plain GPSampler: {lacking}",
        )
    return BayesianModel(
        TPE, f"{budget}: Optuna has no GPSampler", fallback=f"TPESampler: {lacking}, and it has no GPSampler"
    )


_GP_DISTRIBUTIONS = (FloatDistribution, IntDistribution, CategoricalDistribution)


def build_sampler(spec: HpoConfig, *, worker: int = 0) -> optuna.samplers.BaseSampler:
    """The strategy's sampler, seeded from tuning.random_seed (`worker` separates processes sharing a study)."""
    seed = _seed(spec, worker)
    strategy = spec.tuning.strategy
    if strategy == Strategy.Grid:
        space = {d.optuna_name: list(d.distribution.choices) for d in param_draws(spec)}  # type: ignore[attr-defined]
        return GridSearch(space, seed=seed)
    if strategy == Strategy.Random:
        return optuna.samplers.RandomSampler(seed=seed)
    model = bayesian_model(spec)
    if model.name == GP:
        # Its startup trials come from RandomSampler(seed), which first_trial_sampler relies on.
        if model.fallback:
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=GP_STARTUP_TRIALS)
        from hpo_flow.adapters.local.marginal_gp import MarginalGPSampler

        return MarginalGPSampler(seed=seed, n_startup_trials=GP_STARTUP_TRIALS)
    # multivariate: one joint Parzen estimator instead of one per parameter (learning rate and
    # batch size interact). `group` is left off: every trial draws every parameter, so the space
    # is one group already. constant_liar: a trial still running counts as a poor one, so
    # parallel trials do not all go for the same point.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            multivariate=True,
            constant_liar=True,
            n_startup_trials=STARTUP_TRIALS,
            seed=seed,
        )


def first_trial_sampler(spec: HpoConfig) -> optuna.samplers.BaseSampler:
    """A sampler whose first trial is exactly build_sampler's, without importing what its model needs.

    GPSampler draws its startup trials from RandomSampler(seed); building it imports torch, which
    `plan` (one trial, no model) does not need.
    """
    if spec.tuning.strategy == Strategy.Bayesian and bayesian_model(spec).name == GP:
        return optuna.samplers.RandomSampler(seed=_seed(spec, 0))
    return build_sampler(spec)


# --------------------------------------------------------------------------- pruner


def hyperband_max_resource(spec: HpoConfig) -> int | str:
    """tuning.hyperband.max_resource, else the fixed `epochs` hyperparameter, else Optuna's "auto"."""
    if spec.tuning.hyperband.max_resource is not None:
        return spec.tuning.hyperband.max_resource
    epochs = spec.fixed_hyperparameters().get("epochs")
    try:
        if epochs is not None and not isinstance(epochs, bool) and float(epochs).is_integer():
            return int(float(epochs))
    except (TypeError, ValueError):
        pass
    return "auto"


def _policy(spec: HpoConfig) -> tuple[EarlyStoppingPolicy, int]:
    """The policy that runs and its delay: `auto` becomes AUTO_POLICY with AUTO_DELAY unless a delay is set."""
    es = spec.tuning.early_stopping
    if es.policy == EarlyStoppingPolicy.auto:
        delay = es.delay_evaluation if "delay_evaluation" in es.model_fields_set else AUTO_DELAY
        return AUTO_POLICY, delay
    return es.policy, es.delay_evaluation


def build_pruner(spec: HpoConfig) -> optuna.pruners.BasePruner:
    """The early-stopping policy as an Optuna pruner; NopPruner when it is off."""
    t = spec.tuning
    if t.strategy == Strategy.Hyperband:
        hb = t.hyperband
        return optuna.pruners.HyperbandPruner(
            min_resource=hb.min_resource,
            max_resource=hyperband_max_resource(spec),
            reduction_factor=hb.reduction_factor,
        )
    es = t.early_stopping
    policy, delay = _policy(spec)
    interval = es.evaluation_interval
    if policy == EarlyStoppingPolicy.bandit:
        return BanditPruner(es.slack_factor, es.slack_amount, interval, delay)
    if policy == EarlyStoppingPolicy.median:
        return MedianStoppingPruner(interval, delay)
    if policy == EarlyStoppingPolicy.truncation:
        return TruncationPruner(es.effective_truncation_percentage, interval, delay)
    if policy == EarlyStoppingPolicy.asha:
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=es.min_resource, reduction_factor=es.reduction_factor, min_early_stopping_rate=0
        )
    return optuna.pruners.NopPruner()


# --------------------------------------------------------------------------- plan


def _describe_distribution(d: ParamDraw) -> str:
    dist = d.distribution
    if isinstance(dist, CategoricalDistribution):
        shown = list(dist.choices)
        text = f"categorical {shown if len(shown) <= 12 else [*shown[:12], '...']} ({len(shown)} values)"
    elif isinstance(dist, IntDistribution):
        text = (
            f"int [{dist.low}, {dist.high}]"
            + (" log" if dist.log else "")
            + (f" step {dist.step}" if dist.step != 1 else "")
        )
    else:
        assert isinstance(dist, FloatDistribution)
        text = (
            f"float [{dist.low:g}, {dist.high:g}]"
            + (" log" if dist.log else "")
            + (f" step {dist.step:g}" if dist.step else "")
        )
    if d.optuna_name != d.name:
        text = f"{d.note}: {d.optuna_name} ~ {text}"
    return text


def describe_search(spec: HpoConfig) -> dict[str, Any]:
    """What `hpo-flow plan --backend local` shows: the sampler, the pruner and every parameter's draw."""
    t = spec.tuning
    sampler: dict[str, Any] = {"strategy": t.strategy.value, "seed": t.random_seed}
    if t.strategy == Strategy.Grid:
        sizes = [len(d.distribution.choices) for d in param_draws(spec)]  # type: ignore[attr-defined]
        sampler |= {"name": "GridSampler", "grid_size": math.prod(sizes)}
    elif t.strategy == Strategy.Random:
        sampler |= {"name": "RandomSampler"}
    else:
        model = bayesian_model(spec)
        startup = GP_STARTUP_TRIALS if model.name == GP else STARTUP_TRIALS
        sampler |= {"name": model.name, "why": model.reason, "n_startup_trials": startup}
        if model.fallback:
            sampler["fallback"] = model.fallback
        if model.name == TPE:
            sampler |= {"multivariate": True, "constant_liar": True}
    pruner: dict[str, Any]
    if t.strategy == Strategy.Hyperband:
        hb = t.hyperband
        pruner = {
            "policy": "hyperband",
            "name": "HyperbandPruner",
            "min_resource": hb.min_resource,
            "max_resource": hyperband_max_resource(spec),
            "reduction_factor": hb.reduction_factor,
        }
    else:
        es = t.early_stopping
        policy, _ = _policy(spec)
        built = build_pruner(spec)
        pruner = {"policy": policy.value, "name": type(built).__name__}
        if es.policy == EarlyStoppingPolicy.auto:
            pruner["chosen_by"] = "auto"
        if isinstance(built, BanditPruner | MedianStoppingPruner | TruncationPruner):
            pruner |= built.describe()
        elif policy == EarlyStoppingPolicy.asha:
            pruner |= {"min_resource": es.min_resource, "reduction_factor": es.reduction_factor}
    return {
        "sampler": sampler,
        "pruner": pruner,
        "parameters": {d.name: _describe_distribution(d) for d in param_draws(spec)},
    }


def local_problems(spec: HpoConfig) -> list[Problem]:
    """What the local backend cannot run as configured; each problem names the key, value and fix."""
    problems: list[Problem] = []
    t = spec.tuning
    ranges = "tuning.hyperparameter_ranges"
    for name, r in t.hyperparameter_ranges.items():
        written = r.written_as or r.type.value
        if t.strategy == Strategy.Grid and not r.is_finite:
            if r.type in (RangeType.normal, RangeType.lognormal):
                message = (
                    f"Grid needs a finite set of values and a {written} distribution is unbounded "
                    "(a step does not make it finite); use strategy Random or Bayesian, or a categorical range"
                )
            else:
                message = "Grid needs a finite set of values; give this range a step, or make it categorical or integer"
            problems.append(
                Problem(f"{ranges}.{name}.type", r.type.value if not r.written_as else r.written_as, message)
            )
    if t.strategy == Strategy.Hyperband:
        policy = t.early_stopping.policy
        if policy not in (EarlyStoppingPolicy.off, EarlyStoppingPolicy.auto):
            problems.append(
                Problem(
                    "tuning.early_stopping.policy",
                    policy.value,
                    "the Hyperband strategy is itself an early-stopping scheme (Optuna's HyperbandPruner); "
                    "set early_stopping.policy: off, or use strategy Bayesian with this policy",
                )
            )
        max_resource = hyperband_max_resource(spec)
        if isinstance(max_resource, int) and max_resource <= t.hyperband.min_resource:
            problems.append(
                Problem(
                    "tuning.hyperband.max_resource",
                    max_resource,
                    f"must be greater than hyperband.min_resource ({t.hyperband.min_resource}); it defaults to the "
                    "fixed `epochs` hyperparameter: raise epochs or set tuning.hyperband.max_resource",
                )
            )
    from hpo_flow.adapters.local.process import input_problems
    from hpo_flow.adapters.local.slots import slot_problems
    from hpo_flow.adapters.local.state import workdir_problems

    problems += input_problems(spec) + slot_problems(spec) + workdir_problems(spec) + objective_problems(spec)
    return problems


def objective_problems(spec: HpoConfig) -> list[Problem]:
    """An objective no regex reads comes from each trial's own MLflow run, which needs a store to be in."""
    from hpo_flow.adapters.trial_tracking import trial_tracking

    objective = spec.tuning.objective_metric
    if spec.training.metric(objective) is not None or trial_tracking(spec) is not None:
        return []
    fix = (
        "remove mlflow.trial_runs: false"
        if spec.mlflow.trial_runs is False
        else "reinstall hpo-flow (its hpo_flow.trial_tracking entry point is missing)"
    )
    return [
        Problem(
            "tuning.objective_metric",
            objective,
            "no regex in training.metric_definitions reads it from the output, so it is read from each trial's "
            f"own MLflow run, which this trial would not have: {fix}; or add "
            f'{{Name: {objective}, Regex: "{objective}: ([0-9.]+)"}} and print it',
        )
    ]


__all__ = [
    "GP",
    "TPE",
    "BayesianModel",
    "GridSearch",
    "ParamDraw",
    "bayesian_model",
    "build_pruner",
    "build_sampler",
    "describe_search",
    "first_trial_sampler",
    "hyperband_max_resource",
    "local_problems",
    "optuna_distributions",
    "param_draw",
    "param_draws",
    "received_params",
    "suggest_params",
]
