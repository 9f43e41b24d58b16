"""Bayesian search's Gaussian process: Optuna's GPSampler with the kernel's parameters integrated out.

GPSampler fits one set of kernel parameters (a length scale per hyperparameter, the signal and the
noise variance) by maximum a posteriori and trusts it. With the few trials a sweep has (10-50 in 2-10
dimensions) the data barely pins those parameters down, and the one fit is often too smooth: it
expects a single bowl and stops exploring. Here the parameters are drawn from their posterior
(slice sampling, started at GPSampler's own fit) and the acquisition is expected improvement
averaged over the draws, as Spearmint did (Snoek et al. 2012, "Practical Bayesian optimization of
machine learning algorithms"). The model, prior, acquisition optimiser and startup sampler are
GPSampler's own; docs/search.md has the measurements.

It needs `optuna._gp` (the GP, its acquisition functions and thread limiting): private modules,
reached only through hpo_flow.adapters.local.optuna_access, which checks at import that they hold
what this sampler uses (search.py builds Optuna's plain GPSampler where they do not);
tests/local/test_marginal_gp.py exercises them.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna

from hpo_flow.adapters.local import optuna_access

# Posterior draws of the kernel per suggestion: 10 took Hartmann-6's median regret at 25 trials
# from 0.62 to 0.53 of TPE's (0.28 with 5 startup trials, search.GP_STARTUP_TRIALS); each draw
# costs one more EI per acquisition evaluation.
KERNEL_SAMPLES = 10
# Slice-sampling sweeps (every kernel parameter once) before the first kept draw, and between draws.
BURN_IN = 10
THIN = 2
# Above this many finished trials the kernel is the MAP fit alone: the data pin it down by then, and
# sampling would cost seconds per suggestion (a likelihood is a Cholesky of the trials' kernel).
MARGINAL_MAX_TRIALS = 100
# The raw (log) parameters are kept within exp(+-30): beyond it the kernel matrix is degenerate.
_RAW_BOUND = 30.0


class MarginalGPSampler(optuna.samplers.GPSampler):
    """GPSampler whose acquisition averages (q-)log-EI over posterior draws of the kernel's parameters."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        kernel_samples: int = KERNEL_SAMPLES,
        max_trials: int = MARGINAL_MAX_TRIALS,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.kernel_samples, self.max_trials = kernel_samples, max_trials
        self._mcmc_rng = np.random.default_rng(seed)
        self._warned = False

    def _optimize_acqf(self, acqf: Any, best_params: np.ndarray | None) -> np.ndarray:
        from hpo_flow.adapters.local.integrated_acqf import integrate

        gpr = optuna_access.gp_fit_of(acqf)  # None unless GPSampler's single-objective LogEI or qLogEI
        if (
            gpr is not None
            and self.kernel_samples > 1
            and len(optuna_access.gp_training_data(gpr)[1]) <= self.max_trials
        ):
            try:
                acqf = integrate(acqf, self.posterior_kernels(gpr), self._mcmc_rng)
            except (AttributeError, TypeError, ImportError) as exc:  # an Optuna the import check did not foresee
                if not self._warned:
                    warnings.warn(f"MarginalGPSampler: {exc!r}; GPSampler's own acquisition is used", stacklevel=2)
                    self._warned = True
        return super()._optimize_acqf(acqf, best_params)

    def posterior_kernels(self, fit: Any) -> list[Any]:
        """`kernel_samples` GPs with kernel parameters drawn from their posterior, the chain started at `fit`."""
        import torch

        x, y, categorical, squared_diff = optuna_access.gp_training_data(fit)
        log_prior, floor = optuna_access.gp_prior(self)
        d = x.shape[1]
        log_post = kernel_log_posterior(squared_diff.numpy(), y.numpy(), log_prior, floor)
        raw = np.concatenate(
            [
                np.log(fit.inverse_squared_lengthscales.numpy()),
                [math.log(fit.kernel_scale.item()), math.log(max(fit.noise_var.item() - floor, 1e-12))],
            ]
        )
        current = log_post(raw)
        if not math.isfinite(current):
            return [fit]
        kernels = []
        with optuna_access.gp_thread_limit():
            for sweep in range(BURN_IN + self.kernel_samples * THIN):
                for i in self._mcmc_rng.permutation(len(raw)):
                    raw, current = slice_step(log_post, raw, current, int(i), self._mcmc_rng)
                if sweep >= BURN_IN and (sweep - BURN_IN) % THIN == THIN - 1:
                    t = torch.from_numpy(raw.copy())
                    kernels.append(
                        optuna_access.gp_regressor(
                            categorical, x, y, torch.exp(t[:d]), torch.exp(t[d]), torch.exp(t[d + 1]) + floor
                        )
                    )
        return kernels


def kernel_log_posterior(squared_diff: np.ndarray, y: np.ndarray, log_prior: Any, floor: float) -> Any:
    """log p(kernel | trials) + const over GPSampler's raw parameters (log inverse squared length
    scales, log signal variance, log(noise variance - floor)): its Matern 5/2 marginal likelihood and
    prior, in numpy (a tenth of the torch version's time on 25 trials), plus the log Jacobian of exp,
    since the chain moves in log space."""
    import torch
    from scipy.linalg import solve_triangular

    d, diagonal = squared_diff.shape[-1], np.diag_indices(len(y))

    def log_post(raw: np.ndarray) -> float:
        if np.any(np.abs(raw) > _RAW_BOUND):
            return -math.inf
        isl, scale, noise = np.exp(raw[:d]), math.exp(raw[d]), math.exp(raw[d + 1]) + floor
        r2 = squared_diff @ isl
        s5 = np.sqrt(5 * r2)
        k = scale * np.exp(-s5) * ((5 / 3) * r2 + s5 + 1)
        k[diagonal] += noise
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return -math.inf
        u = solve_triangular(chol, y, lower=True)
        params = SimpleNamespace(
            inverse_squared_lengthscales=torch.from_numpy(isl),
            kernel_scale=torch.tensor(scale, dtype=torch.float64),
            noise_var=torch.tensor(noise, dtype=torch.float64),
        )
        likelihood = -np.log(chol.diagonal()).sum() - 0.5 * u @ u
        return float(likelihood) + float(log_prior(params)) + float(raw.sum())

    return log_post


def slice_step(log_p: Any, x: np.ndarray, current: float, i: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Coordinate i of Neal's (2003) slice sampler: step out by 1 (a factor e), then shrink."""
    level = current + math.log(rng.uniform())
    lo = x[i] - rng.uniform()
    hi = lo + 1.0
    probe = x.copy()
    for _ in range(20):
        probe[i] = lo
        if log_p(probe) <= level:
            break
        lo -= 1.0
    for _ in range(20):
        probe[i] = hi
        if log_p(probe) <= level:
            break
        hi += 1.0
    while True:
        probe[i] = rng.uniform(lo, hi)
        value = log_p(probe)
        if value > level:
            return probe, value
        if probe[i] < x[i]:
            lo = probe[i]
        else:
            hi = probe[i]
