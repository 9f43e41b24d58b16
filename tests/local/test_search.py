"""Every range of the config model maps onto Optuna exactly; samplers, Grid and plan output."""

from __future__ import annotations

import math
import statistics
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpo_flow.adapters.local import search
from hpo_flow.adapters.local.marginal_gp import MarginalGPSampler
from hpo_flow.adapters.local.search import (
    GridSearch,
    bayesian_model,
    build_sampler,
    describe_search,
    hyperband_max_resource,
    local_problems,
    optuna_distributions,
    received_params,
    suggest_params,
)
from hpo_flow.adapters.spec import HpoConfig, Strategy
from tests.helpers import make_config

pytestmark = pytest.mark.unit

optuna.logging.set_verbosity(optuna.logging.WARNING)


def spec_with(ranges: dict[str, Any], **tuning: Any) -> HpoConfig:
    overrides = {"tuning.hyperparameter_ranges": ranges} | {f"tuning.{k}": v for k, v in tuning.items()}
    return make_config(overrides)


def draw(spec: HpoConfig, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n trials' received params from a random search; each also checked against the recorded Optuna params."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        params = suggest_params(trial, spec)
        # what the study records maps back to exactly what the trial was given
        assert received_params(trial.params, spec) == params
        out.append(params)
    return out


# --------------------------------------------------------------------------- exact mapping


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ({"type": "continuous", "min": 0.1, "max": 0.9}, {"x": FloatDistribution(0.1, 0.9)}),
        ({"type": "continuous", "min": 0.1, "max": 0.9, "scaling_type": "Auto"}, {"x": FloatDistribution(0.1, 0.9)}),
        ({"type": "uniform", "min": 0.1, "max": 0.9}, {"x": FloatDistribution(0.1, 0.9)}),
        (
            {"type": "continuous", "min": 1e-4, "max": 0.1, "scaling_type": "Logarithmic"},
            {"x": FloatDistribution(1e-4, 0.1, log=True)},
        ),
        ({"type": "loguniform", "min": 1e-4, "max": 0.1}, {"x": FloatDistribution(1e-4, 0.1, log=True)}),
        ({"type": "quniform", "min": 0.1, "max": 0.9, "q": 0.2}, {"x": FloatDistribution(0.1, 0.9, step=0.2)}),
        ({"type": "quniform", "min": 0, "max": 100, "q": 10}, {"x": IntDistribution(0, 100, step=10)}),
        ({"type": "integer", "min": 16, "max": 256}, {"x": IntDistribution(16, 256)}),
        ({"type": "randint", "min": 0, "max": 9}, {"x": IntDistribution(0, 9)}),
        ({"type": "integer", "min": 2, "max": 64, "step": 2}, {"x": IntDistribution(2, 64, step=2)}),
        (
            {"type": "integer", "min": 1, "max": 1024, "scaling_type": "Logarithmic"},
            {"x": IntDistribution(1, 1024, log=True)},
        ),
        (
            {"type": "integer", "min": 8, "max": 1024, "step": 8, "scaling_type": "Logarithmic"},
            {"x:log": FloatDistribution(8, 1024, log=True)},
        ),
        ({"type": "categorical", "values": [16, "a", 0.5, True]}, {"x": CategoricalDistribution([16, "a", 0.5, True])}),
        (
            {"type": "qloguniform", "min": 0.0007, "max": 0.1, "q": 0.0001},
            {"x:log": FloatDistribution(7e-4, 0.1, log=True)},
        ),
        (
            {"type": "continuous", "min": 0.9, "max": 0.999, "scaling_type": "ReverseLogarithmic"},
            {"x:1-x": FloatDistribution(1 - 0.999, 1 - 0.9, log=True)},
        ),
        ({"type": "normal", "mu": 10, "sigma": 3}, {"x:u": FloatDistribution(1e-9, 1 - 1e-9)}),
        ({"type": "lognormal", "mu": 0, "sigma": 1}, {"x:u": FloatDistribution(1e-9, 1 - 1e-9)}),
    ],
)
def test_each_range_maps_to_its_distribution(range_: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = spec_with({"x": range_})
    assert optuna_distributions(spec) == expected
    for params in draw(spec, 20):
        assert set(params) == {"x"}


def test_log_base_does_not_change_the_distribution() -> None:
    # Uniform in log_b(x) = ln(x) / ln(b) over [log_b(min), log_b(max)] is uniform in ln(x): the base only
    # rescales the axis. So every base gives the same distribution, and the same draws under one seed.
    specs = [
        spec_with({"x": {"type": "loguniform", "min": 1e-5, "max": 1.0, **base}})
        for base in ({}, {"log_base": 2}, {"log_base": 10}, {"log_base": math.e})
    ]
    assert len({repr(optuna_distributions(s)) for s in specs}) == 1
    draws = [[p["x"] for p in draw(s, 30, seed=3)] for s in specs]
    assert all(d == draws[0] for d in draws)


def test_loguniform_density() -> None:
    # log-uniform on [1e-4, 1]: each decade gets a quarter of the draws; half fall below 1e-2.
    xs = [p["x"] for p in draw(spec_with({"x": {"type": "loguniform", "min": 1e-4, "max": 1.0}}), 2000)]
    assert 0.46 < sum(x < 1e-2 for x in xs) / len(xs) < 0.54
    assert 0.21 < sum(x < 1e-3 for x in xs) / len(xs) < 0.29


def test_reverse_logarithmic_is_dense_near_one() -> None:
    # x = 1 - y, y log-uniform on [0.001, 0.1]. P(x > 0.99) = P(y < 0.01) = ln(10) / ln(100) = 0.5, though
    # (0.99, 0.999] is only 9% of the range (a linear draw would put 9% there).
    xs = [
        p["x"]
        for p in draw(
            spec_with({"x": {"type": "continuous", "min": 0.9, "max": 0.999, "scaling_type": "ReverseLogarithmic"}}),
            2000,
        )
    ]
    assert all(0.9 <= x <= 0.999 for x in xs)
    assert 0.46 < sum(x > 0.99 for x in xs) / len(xs) < 0.54
    # P(x > 0.9 + 0.09 * 0.5) ... P(y < 0.055) = ln(55) / ln(100) = 0.870
    assert 0.84 < sum(x > 0.945 for x in xs) / len(xs) < 0.90


def test_qloguniform_rounds_to_multiples_inside_the_range() -> None:
    spec = spec_with({"lr": {"type": "qloguniform", "min": 0.0007, "max": 0.1, "q": 0.0001}})
    xs = [p["lr"] for p in draw(spec, 500)]
    for x in xs:
        assert 0.0007 <= x <= 0.1
        assert abs(x / 0.0001 - round(x / 0.0001)) < 1e-6
        assert x == float(f"{x:.12g}")  # no float noise such as 0.00030000000000000003
    # still log-uniform before rounding: half below the geometric midpoint sqrt(0.0007 * 0.1) = 0.00837
    assert 0.44 < sum(x < 0.00837 for x in xs) / len(xs) < 0.56


def test_qloguniform_keeps_values_in_range_where_hyperopt_would_round_out() -> None:
    # round(x / 1e-4) * 1e-4 of x ~ 1e-6 would be 0 (hyperopt); the smallest multiple inside is 1e-4.
    spec = spec_with({"lr": {"type": "qloguniform", "min": 1e-6, "max": 1e-2, "q": 1e-4}})
    xs = [p["lr"] for p in draw(spec, 300)]
    assert min(xs) == pytest.approx(1e-4)
    assert max(xs) <= 1e-2


def test_integral_q_ranges_yield_ints() -> None:
    spec = spec_with(
        {
            "batch": {"type": "qloguniform", "min": 16, "max": 512, "q": 16},
            "units": {"type": "quniform", "min": 10, "max": 100, "q": 5},
            "layers": {"type": "integer", "min": 8, "max": 1024, "step": 8, "scaling_type": "Logarithmic"},
            "n": {"type": "qnormal", "mu": 100, "sigma": 20, "q": 10},
        }
    )
    for p in draw(spec, 200):
        assert all(type(v) is int for v in p.values()), p
        assert p["batch"] % 16 == 0 and 16 <= p["batch"] <= 512
        assert p["units"] % 5 == 0 and 10 <= p["units"] <= 100
        assert p["layers"] % 8 == 0 and 8 <= p["layers"] <= 1024
        assert p["n"] % 10 == 0


def test_integers_and_categoricals_keep_their_types() -> None:
    spec = spec_with(
        {
            "hidden": {"type": "integer", "min": 16, "max": 256},
            "opt": {"type": "categorical", "values": ["adam", "sgd"]},
            "bs": {"type": "categorical", "values": [16, 32]},
            "flag": {"type": "categorical", "values": [True, False]},
        }
    )
    for p in draw(spec, 50):
        assert type(p["hidden"]) is int and 16 <= p["hidden"] <= 256
        assert p["opt"] in ("adam", "sgd") and type(p["bs"]) is int and type(p["flag"]) is bool


def test_normal_mean_and_std() -> None:
    xs = [p["x"] for p in draw(spec_with({"x": {"type": "normal", "mu": 10, "sigma": 3}}), 4000)]
    # standard error of the mean 3 / sqrt(4000) = 0.047; of the std about 3 / sqrt(8000) = 0.034
    assert statistics.fmean(xs) == pytest.approx(10, abs=0.2)
    assert statistics.stdev(xs) == pytest.approx(3, abs=0.15)
    assert min(xs) < 10 - 2 * 3 and max(xs) > 10 + 2 * 3  # unbounded: the tails are reached


def test_lognormal_is_exp_of_normal() -> None:
    xs = [p["x"] for p in draw(spec_with({"x": {"type": "lognormal", "mu": -2, "sigma": 0.5}}), 4000)]
    assert all(x > 0 for x in xs)
    logs = [math.log(x) for x in xs]
    assert statistics.fmean(logs) == pytest.approx(-2, abs=0.05)
    assert statistics.stdev(logs) == pytest.approx(0.5, abs=0.03)
    # and the mean of a lognormal is exp(mu + sigma^2 / 2) = 0.1535
    assert statistics.fmean(xs) == pytest.approx(math.exp(-2 + 0.125), rel=0.05)


def test_qnormal_and_qlognormal_round_to_q() -> None:
    spec = spec_with(
        {
            "a": {"type": "qnormal", "mu": 0, "sigma": 1, "q": 0.5},
            "b": {"type": "qlognormal", "mu": 1, "sigma": 0.3, "q": 0.1},
        }
    )
    ps = draw(spec, 2000)
    for p in ps:
        assert p["a"] * 2 == round(p["a"] * 2)
        assert abs(p["b"] * 10 - round(p["b"] * 10)) < 1e-9
    assert statistics.fmean(p["a"] for p in ps) == pytest.approx(0, abs=0.08)
    assert statistics.stdev(p["a"] for p in ps) == pytest.approx(math.sqrt(1 + 0.5**2 / 12), abs=0.06)


# --------------------------------------------------------------------------- samplers


def test_same_seed_same_trials_other_seed_other_trials() -> None:
    def run(seed: int, strategy: str, worker: int = 0) -> list[dict[str, Any]]:
        spec = make_config({"tuning.random_seed": seed, "tuning.strategy": strategy})
        study = optuna.create_study(direction="maximize", sampler=build_sampler(spec, worker=worker))
        out = []
        for _ in range(12):  # past TPE's random startup
            trial = study.ask()
            params = suggest_params(trial, spec)
            study.tell(trial, -abs(math.log10(params["lr"]) + 2))
            out.append(params)
        return out

    for strategy in ("Bayesian", "Random"):
        assert run(5, strategy) == run(5, strategy)
        assert run(5, strategy) != run(6, strategy)
        assert run(5, strategy) != run(5, strategy, worker=1)  # workers sharing a study draw differently


def test_tpe_is_multivariate_with_constant_liar_for_bayesian_without_torch_and_hyperband(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "torch_available", lambda: False)
    for strategy in ("Bayesian", "Hyperband"):
        sampler = build_sampler(make_config({"tuning.strategy": strategy, "tuning.max_jobs": 50}))
        assert isinstance(sampler, optuna.samplers.TPESampler)
        assert sampler._multivariate and sampler._constant_liar
    assert isinstance(build_sampler(make_config({"tuning.strategy": "Random"})), optuna.samplers.RandomSampler)


def _model(torch_present: bool, **overrides: Any) -> search.BayesianModel:
    return bayesian_model(
        make_config({"tuning.strategy": "Bayesian", "tuning.max_jobs": 50} | overrides), torch_present=torch_present
    )


def test_bayesian_fits_a_gaussian_process_where_it_pays_and_says_why_not_elsewhere() -> None:
    gp = _model(True)
    assert gp.name == "GPSampler" and "50 trials over 2 parameter(s)" in gp.reason
    # Every range the config can express, categorical and the latent normal ones included, is modelled.
    every_kind = {
        "a": {"type": "qloguniform", "min": 1e-4, "max": 1e-1, "q": 1e-4},
        "b": {"type": "integer", "min": 1, "max": 64, "scaling_type": "Logarithmic"},
        "c": {"type": "choice", "values": ["x", "y"]},
        "d": {"type": "lognormal", "mu": 0, "sigma": 1},
        "e": {"type": "continuous", "min": 0.9, "max": 0.99, "scaling_type": "ReverseLogarithmic"},
    }
    assert _model(True, **{"tuning.hyperparameter_ranges": every_kind}).name == "GPSampler"

    no_torch = _model(False)
    assert no_torch.name == "TPESampler" and "torch is not installed" in no_torch.reason
    assert "pip install torch" in no_torch.reason
    big = _model(True, **{"tuning.max_jobs": search.GP_MAX_TRIALS + 1})
    assert big.name == "TPESampler" and f"> {search.GP_MAX_TRIALS}" in big.reason
    assert _model(True, **{"tuning.max_jobs": search.GP_MAX_TRIALS}).name == "GPSampler"
    small = _model(True, **{"tuning.max_jobs": search.GP_STARTUP_TRIALS})
    assert small.name == "TPESampler" and "no model is fit" in small.reason
    assert _model(True, **{"tuning.max_jobs": search.GP_STARTUP_TRIALS + 1}).name == "GPSampler"
    for halving in ({"tuning.strategy": "Hyperband"}, {"tuning.early_stopping": {"policy": "asha"}}):
        model = _model(True, **halving)
        assert model.name == "TPESampler" and "learns only from completed" in model.reason
    # Budget and search space outrank torch: installing it would not change those answers.
    assert "> 300" in _model(False, **{"tuning.max_jobs": 301}).reason


def test_plan_shows_the_model_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_config({"tuning.strategy": "Bayesian", "tuning.max_jobs": 50, "tuning.random_seed": 3})
    monkeypatch.setattr(search, "torch_available", lambda: True)
    shown = describe_search(spec)["sampler"]
    assert shown["name"] == "GPSampler" and shown["n_startup_trials"] == 5 and "posterior draws" in shown["why"]
    assert "multivariate" not in shown
    # plan draws the first trial without building the GP (which imports torch): the GP's own startup draws.
    assert isinstance(search.first_trial_sampler(spec), optuna.samplers.RandomSampler)
    monkeypatch.setattr(search, "torch_available", lambda: False)
    shown = describe_search(spec)["sampler"]
    assert shown["name"] == "TPESampler" and "torch is not installed" in shown["why"]
    assert shown["n_startup_trials"] == 10


def test_without_the_optuna_internals_bayesian_falls_back_to_gpsampler_then_tpe_and_plan_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from hpo_flow.adapters.local import optuna_access
    from hpo_flow.adapters.local.plan import build_plan

    spec = make_config({"tuning.strategy": "Bayesian", "tuning.max_jobs": 50, "tuning.random_seed": 3})
    monkeypatch.setattr(search, "torch_available", lambda: True)
    assert not optuna_access.MARGINAL_GP_MISSING and isinstance(build_sampler(spec), MarginalGPSampler)
    assert "fallback" not in describe_search(spec)["sampler"]

    # An Optuna whose private GP modules moved: what the import-time check would have found.
    gone = ("optuna._gp.acqf.qLogEI(n_qmc_samples)", "optuna._gp.gp.GPRegressor._cache_matrix")
    monkeypatch.setattr(optuna_access, "MARGINAL_GP_MISSING", gone)
    sampler = build_sampler(spec)
    assert type(sampler) is optuna.samplers.GPSampler  # Optuna's own, not the integrated-kernel subclass
    shown = build_plan(spec, cwd=tmp_path)["search"]["sampler"]
    assert shown["name"] == "GPSampler" and shown["n_startup_trials"] == 5
    assert shown["fallback"].startswith("Optuna's plain GPSampler") and all(name in shown["fallback"] for name in gone)
    assert "posterior draws" not in shown["why"]
    # The plan's first trial is still the sweep's: GPSampler's startup trials are RandomSampler(seed)'s.
    assert isinstance(search.first_trial_sampler(spec), optuna.samplers.RandomSampler)

    monkeypatch.setattr(optuna_access, "GP_SAMPLER_PRESENT", False)
    sampler = build_sampler(spec)
    assert isinstance(sampler, optuna.samplers.TPESampler) and sampler._multivariate
    shown = build_plan(spec, cwd=tmp_path)["search"]["sampler"]
    assert shown["name"] == "TPESampler" and shown["fallback"].startswith("TPESampler") and gone[0] in shown["fallback"]
    assert "no GPSampler" in shown["fallback"] and shown["n_startup_trials"] == 10


def test_the_import_time_check_names_what_an_optuna_lacks() -> None:
    from hpo_flow.adapters.local import optuna_access

    assert optuna_access.missing_gp_names() == []  # the locked Optuna has everything MarginalGPSampler uses
    assert optuna_access.missing_gp_names(
        {
            "optuna._gp.acqf": {"qLogEI": ("length_scales", "_gone", "__init__(gpr, renamed)"), "Gone": ()},
            "optuna._gp.moved": {"": ("anything",)},
            "optuna._gp.thread_limiting": {"": ("limit_threads_in_optimization", "other")},
        }
    ) == [  # length_scales is inherited from BaseAcquisitionFunc: found
        "optuna._gp.acqf.qLogEI._gone",
        "optuna._gp.acqf.qLogEI(renamed)",
        "optuna._gp.acqf.Gone",
        "optuna._gp.moved",
        "optuna._gp.thread_limiting.other",
    ]


def test_gaussian_process_draws_the_plans_first_trials_then_models() -> None:
    pytest.importorskip("torch")
    spec = make_config({"tuning.strategy": "Bayesian", "tuning.max_jobs": 50, "tuning.random_seed": 11})
    sampler = build_sampler(spec)
    assert isinstance(sampler, MarginalGPSampler) and sampler._n_startup_trials == 5
    study = optuna.create_study(direction="maximize", sampler=sampler)
    first = optuna.create_study(direction="maximize", sampler=search.first_trial_sampler(spec))
    assert suggest_params(study.ask(), spec) == suggest_params(first.ask(), spec)
    study = optuna.create_study(direction="maximize", sampler=build_sampler(spec))
    for _ in range(8):  # 5 startup trials, then the GP: a smooth objective peaked at lr = 1e-2
        trial = study.ask()
        params = suggest_params(trial, spec)
        study.tell(trial, -((math.log10(params["lr"]) + 2) ** 2))
    assert "gp:relative_params:0" in study.trials[-1].system_attrs  # drawn by the model, not at random


def test_tpe_beats_random_search_on_a_smooth_bowl() -> None:
    def late_median(strategy: str) -> float:
        spec = spec_with(
            {"x": {"type": "continuous", "min": -5, "max": 5}, "y": {"type": "continuous", "min": -5, "max": 5}},
            strategy=strategy,
            random_seed=0,
        )
        study = optuna.create_study(sampler=build_sampler(spec))
        for _ in range(40):
            trial = study.ask()
            p = suggest_params(trial, spec)
            study.tell(trial, (p["x"] - 1) ** 2 + (p["y"] + 2) ** 2)
        return statistics.median(t.value for t in study.trials[20:])

    # after the random startup TPE draws near the optimum far more often than uniform draws do
    assert late_median("Bayesian") < late_median("Random") / 2


def test_grid_enumerates_every_point_once() -> None:
    spec = spec_with(
        {
            "bs": {"type": "categorical", "values": [16, 32]},
            "layers": {"type": "integer", "min": 1, "max": 3},
            "drop": {"type": "quniform", "min": 0.1, "max": 0.3, "q": 0.1},
        },
        strategy="Grid",
        max_jobs=50,
    )
    assert describe_search(spec)["sampler"]["grid_size"] == 18
    sampler = build_sampler(spec)
    assert isinstance(sampler, GridSearch) and sampler.size == 18
    study = optuna.create_study(sampler=sampler)
    seen = []
    running = [study.ask() for _ in range(2)]  # two trials in parallel
    seen += [suggest_params(t, spec) for t in running]
    assert sampler.points_left(study) == 16 and not sampler.is_exhausted(study)
    for trial in running:
        study.tell(trial, 0.0)
    while sampler.points_left(study):
        trial = study.ask()
        seen.append(suggest_params(trial, spec))
        study.tell(trial, 0.0)  # no RuntimeError after the last point: the runner ends the sweep
    assert sampler.is_exhausted(study) and len(seen) == 18
    keys = {(p["bs"], p["layers"], p["drop"]) for p in seen}
    assert keys == {(b, n, d) for b in (16, 32) for n in (1, 2, 3) for d in (0.1, 0.2, 0.3)}
    assert all(type(p["layers"]) is int and type(p["bs"]) is int for p in seen)


def test_grid_refuses_normal_family_with_the_reason() -> None:
    # The config model refuses this already; the backend says why too, in case a spec reaches it another way.
    spec = spec_with(
        {"n": {"type": "qnormal", "mu": 10, "sigma": 2, "q": 1}, "bs": {"type": "categorical", "values": [1, 2]}},
        strategy="Random",
    )
    spec.tuning.strategy = Strategy.Grid
    problems = local_problems(spec)
    assert [p.path for p in problems] == ["tuning.hyperparameter_ranges.n.type"]
    assert "unbounded" in problems[0].message and "Random or Bayesian" in problems[0].message


# --------------------------------------------------------------------------- hyperband, problems, plan


def test_hyperband_max_resource() -> None:
    assert hyperband_max_resource(make_config({"tuning.strategy": "Hyperband"})) == 5  # fixed epochs: 5
    explicit = make_config({"tuning.strategy": "Hyperband", "tuning.hyperband": {"max_resource": 30}})
    assert hyperband_max_resource(explicit) == 30
    no_epochs = make_config({"tuning.strategy": "Hyperband", "training.hyperparameters": {"lr": 0.1}})
    assert hyperband_max_resource(no_epochs) == "auto"
    tuned_epochs = make_config(
        {"tuning.strategy": "Hyperband", "tuning.hyperparameter_ranges.epochs": {"type": "integer", "min": 2, "max": 9}}
    )
    assert hyperband_max_resource(tuned_epochs) == "auto"  # tuned, so no fixed budget to take


def test_problems_hyperband_with_a_policy_and_too_few_epochs() -> None:
    spec = make_config(
        {
            "tuning.strategy": "Hyperband",
            "tuning.early_stopping": {"policy": "median"},
            "tuning.hyperband": {"min_resource": 5},
        }
    )
    found = {p.path: p for p in local_problems(spec)}
    assert set(found) == {"tuning.early_stopping.policy", "tuning.hyperband.max_resource"}
    assert "policy: off" in found["tuning.early_stopping.policy"].message
    assert found["tuning.hyperband.max_resource"].value == 5


def test_describe_search_for_plan() -> None:
    spec = make_config(
        {
            "tuning.strategy": "Bayesian",
            "tuning.random_seed": 7,
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1, "delay_evaluation": 3},
            "tuning.hyperparameter_ranges.m": {
                "type": "continuous",
                "min": 0.9,
                "max": 0.99,
                "scaling_type": "ReverseLogarithmic",
            },
        }
    )
    shown = describe_search(spec)
    assert shown["sampler"] == {
        "strategy": "Bayesian",
        "seed": 7,
        "name": "TPESampler",
        "why": "max_jobs 4 <= 5: every trial is a random startup trial, no model is fit",
        "multivariate": True,
        "constant_liar": True,
        "n_startup_trials": 10,
    }
    assert shown["pruner"] == {
        "policy": "bandit",
        "name": "BanditPruner",
        "evaluation_interval": 1,
        "delay_evaluation": 3,
        "slack_factor": 0.1,
    }
    assert shown["parameters"]["lr"] == "float [0.0001, 0.1] log"
    assert shown["parameters"]["m"].startswith("1 - log-uniform: m:1-x ~ float [0.01, 0.1] log")
    auto = describe_search(make_config({"tuning.early_stopping": "auto"}))["pruner"]
    assert auto["policy"] == "median" and auto["chosen_by"] == "auto" and auto["delay_evaluation"] == 5
