"""The Bayesian strategy's Gaussian process with its kernel integrated out (adapters/local/marginal_gp.py).

It reaches into Optuna's private GP modules: these tests fail if the pinned Optuna's kernel, prior
or acquisition functions stop being what the sampler assumes. All but the slice sampler's need
torch (optional; `pip install torch==2.13.0` here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pytest

from hpo_flow.adapters.local.marginal_gp import KERNEL_SAMPLES, MarginalGPSampler, kernel_log_posterior, slice_step

pytestmark = pytest.mark.unit


def test_the_slice_sampler_draws_from_the_density_it_is_given() -> None:
    # A correlated 2-D Gaussian, mean (1, -2), sd (0.5, 2), correlation 0.6.
    mean, sd, rho = np.array([1.0, -2.0]), np.array([0.5, 2.0]), 0.6
    cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    precision = np.linalg.inv(cov)

    def log_p(x: np.ndarray) -> float:
        z = x - mean
        return float(-0.5 * z @ precision @ z)

    rng = np.random.default_rng(0)
    x, current, draws = np.zeros(2), log_p(np.zeros(2)), []
    for sweep in range(6000):
        for i in rng.permutation(2):
            x, current = slice_step(log_p, x, current, int(i), rng)
        if sweep >= 200:
            draws.append(x.copy())
    drawn = np.array(draws)
    assert np.allclose(drawn.mean(axis=0), mean, atol=0.1 * sd)
    assert np.allclose(drawn.std(axis=0), sd, rtol=0.08)
    assert abs(np.corrcoef(drawn.T)[0, 1] - rho) < 0.06
    assert math.isclose(current, log_p(x))  # the value handed back is the density at the point


def _trials(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, dim))
    y = np.sin(6 * x[:, 0]) + (x[:, 1] - 0.3) ** 2 + 0.05 * rng.standard_normal(n)
    return x, (y - y.mean()) / y.std()


def _map_fit(x: np.ndarray, y: np.ndarray) -> Any:
    """GPSampler's own kernel fit, under its default prior."""
    from optuna._gp import gp, prior

    return gp.fit_kernel_params(
        X=x,
        Y=y,
        is_categorical=np.zeros(x.shape[1], dtype=bool),
        log_prior=prior.default_log_prior,
        minimum_noise=prior.DEFAULT_MINIMUM_NOISE_VAR,
        deterministic_objective=False,
    )


def test_the_log_posterior_is_optunas_likelihood_and_prior_in_log_coordinates() -> None:
    torch = pytest.importorskip("torch")
    from optuna._gp import gp, prior

    x, y = _trials(18, 3, seed=1)
    fit = _map_fit(x, y)
    floor = prior.DEFAULT_MINIMUM_NOISE_VAR
    log_post = kernel_log_posterior(fit._squared_X_diff.numpy(), y, prior.default_log_prior, floor)
    rng = np.random.default_rng(2)
    for raw in rng.normal(0, 1.5, (5, 5)):
        t = torch.from_numpy(raw)
        reference = gp.GPRegressor(
            torch.zeros(3, dtype=torch.bool),
            torch.from_numpy(x),
            torch.from_numpy(y),
            torch.exp(t[:3]),
            torch.exp(t[3]),
            torch.exp(t[4]) + floor,
        )
        with torch.no_grad():
            expected = float(reference.marginal_log_likelihood() + prior.default_log_prior(reference)) + raw.sum()
        assert log_post(raw) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert log_post(np.full(5, 40.0)) == -math.inf  # out of bounds: no degenerate kernel is ever tried


def test_the_kernel_draws_spread_around_the_map_fit() -> None:
    pytest.importorskip("torch")
    x, y = _trials(20, 2, seed=3)
    fit = _map_fit(x, y)
    sampler = MarginalGPSampler(seed=0)
    kernels = sampler.posterior_kernels(fit)
    assert len(kernels) == KERNEL_SAMPLES
    scales = np.array([k.length_scales for k in kernels])
    assert np.all(np.isfinite(scales)) and np.all(scales > 0)
    assert len({tuple(s) for s in scales.round(6)}) == KERNEL_SAMPLES  # the chain moves
    # Every draw is a usable GP over the same trials: its mean at a trial is near that trial's value.
    import torch

    mean, _ = kernels[0].posterior(torch.from_numpy(x))
    assert np.corrcoef(mean.numpy(), y)[0, 1] > 0.9


def _objective(trial: optuna.Trial) -> float:
    a, b = trial.suggest_float("a", 0, 1), trial.suggest_float("b", 0, 1)
    return (a - 0.7) ** 2 + (b - 0.2) ** 2


def test_sequential_and_parallel_asks_are_drawn_by_the_integrated_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from hpo_flow.adapters.local import integrated_acqf

    sampler = MarginalGPSampler(seed=5, n_startup_trials=5)
    used: list[str] = []
    original = integrated_acqf.integrate

    def recording(acqf: Any, kernels: list[Any], rng: np.random.Generator) -> integrated_acqf.IntegratedAcqf:
        built = original(acqf, kernels, rng)
        used.append(f"{type(built.parts[0]).__name__} x{len(built.parts)}")
        return built

    monkeypatch.setattr(integrated_acqf, "integrate", recording)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=12)
    assert used == ["LogEI x10"] * 7  # trials 6-12: every model suggestion, none at random
    assert all("gp:relative_params:0" in t.system_attrs for t in study.trials[5:])
    assert study.best_value < 0.01  # the bowl's floor is 0; random points average 0.26

    running = study.ask()  # left running: the next ask must count it (q-batch EI)
    _objective(running)
    nxt = study.ask()
    _objective(nxt)
    assert used[-1] == "qLogEI x10"
    assert nxt.params != running.params


def _suggestions(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=n)
    return [t.params for t in study.trials]


def test_past_its_trial_cap_it_suggests_exactly_what_gpsampler_does() -> None:
    pytest.importorskip("torch")
    gpsampler = _suggestions(optuna.samplers.GPSampler(seed=5, n_startup_trials=5), 8)
    # The cap below the startup trials: every model suggestion has more finished trials than it.
    assert _suggestions(MarginalGPSampler(seed=5, n_startup_trials=5, max_trials=4), 8) == gpsampler
    integrated = _suggestions(MarginalGPSampler(seed=5, n_startup_trials=5), 8)
    assert integrated[:5] == gpsampler[:5]  # the same random startup trials
    assert integrated[5] != gpsampler[5]  # the first model suggestion: the kernel integrated out
