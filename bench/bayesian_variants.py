"""GPSampler variants against its defaults and TPE on one function: the runs behind docs/search.md's table.

Each variant is GPSampler with one change, named on the command line, `+` joining changes:
`det` (deterministic_objective), `startN` (N random startup trials), `sobolN` (QMCSampler as the
startup sampler: N *random* startup trials, see QmcStartup), `haltonN` / `qsobolN` (N scrambled
Halton / Sobol startup trials, QmcStartup), `lsN` / `preN` (local searches / preliminary points
of the acquisition optimiser), `warp` (Yeo-Johnson output warping), `twostart` (kernel fit also
from a low-noise start, the better posterior kept), and a late trust region: `trS` (from
`trfromF` per cent of the budget on, default 60, the acquisition is optimised only inside a box
of side S per cent of each normalised range around the incumbent), `trendE` (the side shrinks
linearly to E per cent by the last trial), `tratN` (from trial N on, whatever the budget),
`trls` (sides scaled by the kernel's length scales, TuRBO's box, same volume); the kernel's prior:
`lsmodeM` (the length-scale prior peaking at M per cent of the range; Optuna's at 100), `lnpriorS`
(Hvarfner et al.'s log-normal length-scale prior, location times S per cent), `noiseR` (the noise
variance's Gamma(1.1, R) prior, with any of the priors here; Optuna's R is 30), `mixM` (per length scale,
an even mixture of Optuna's prior and mode M), `untilP` (the variant's prior until P per cent of
the budget, Optuna's after), `looM` (Optuna's prior or mode M, whichever fit predicts its trials
better, left out one at a time); the acquisition: `pi` (log probability of improvement), `ucbB` (UCB,
beta B); the kernel integrated out: `mcmcK` (hpo_flow/adapters/local/marginal_gp.py's sampler, EI averaged
over K posterior draws of the kernel; the product's is `mcmc10+start5`; `capN`: the MAP fit alone
from N finished trials on). `defaults` is GPSampler(seed) itself, `tpe` TPESampler(seed).
Problems: Branin, Hartmann-6 and bench/functions/suite.py's; NAME+noiseS adds Gaussian noise of sd
S to what the sampler sees. Sequential ask/tell, the same search space and draws as
bench/bayesian.py. Regrets are cached per run in a JSON file, so a stopped run resumes and several
processes can split the seeds.

    nice -n 19 .venv/bin/python bench/bayesian_variants.py hartmann6 defaults,det --seeds 101-116 --trials 25
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from bayesian import OBJECTIVES
from efficiency import FUNCTIONS, function_spec
from functions.suite import SUITE

from hpo_flow.adapters.local.marginal_gp import MarginalGPSampler
from hpo_flow.adapters.local.search import suggest_params

LOW_NOISE_START = 1e-4  # standardised units: a noise sd of 1% of the values' spread


class WarpedGP(optuna.samplers.GPSampler):
    """The GP models Yeo-Johnson(standardised objective), as HEBO does."""

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        from scipy import stats

        y = np.array([t.values[0] for t in completed], dtype=float)
        warped, _ = stats.yeojohnson((y - y.mean()) / max(float(y.std()), 1e-12))
        trials = []
        for t, w in zip(completed, warped, strict=True):
            c = copy.copy(t)
            c._values = [float(w)]  # monotone, so the direction and the best trial are unchanged
            trials.append(c)
        return super()._sample_relative_impl(study, trials, running, space)


def gp_training_data(study: Any, completed: Any, space: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """What GPSampler fits: its search space, the trials' normalised params and their standardised values (max)."""
    from optuna._gp.search_space import SearchSpace
    from optuna.samplers._gp.sampler import _standardize_values

    ss = SearchSpace(space)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    y = _standardize_values(sign * np.array([t.values for t in completed]))[0][:, 0]
    return ss, ss.get_normalized_params(completed), y


class TwoStartGP(optuna.samplers.GPSampler):
    """The kernel is fitted from the previous fit and from a low-noise start; the higher posterior seeds GPSampler."""

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        import torch
        from optuna._gp import gp

        ss, x, y = gp_training_data(study, completed, space)
        cached = self._gprs_cache_list[0] if self._gprs_cache_list else None
        low = gp.GPRegressor(
            torch.from_numpy(ss.is_categorical),
            torch.from_numpy(x),
            torch.from_numpy(y),
            inverse_squared_lengthscales=(
                cached.inverse_squared_lengthscales if cached else torch.ones(ss.dim, dtype=torch.float64)
            ).clone(),
            kernel_scale=(cached.kernel_scale if cached else torch.tensor(1.0, dtype=torch.float64)).clone(),
            noise_var=torch.tensor(LOW_NOISE_START, dtype=torch.float64),
        )
        fits = []
        for start in (cached, low):
            fit = gp.fit_kernel_params(
                X=x,
                Y=y,
                is_categorical=ss.is_categorical,
                log_prior=self._log_prior,
                minimum_noise=self._minimum_noise,
                gpr_cache=start,
                deterministic_objective=self._deterministic,
            )
            with torch.no_grad():
                fits.append((-(fit.marginal_log_likelihood() + self._log_prior(fit)).item(), fit))
        self._gprs_cache_list = [min(fits, key=lambda f: f[0])[1]]
        return super()._sample_relative_impl(study, completed, running, space)


class QmcStartup(optuna.samplers.BaseSampler):
    """Startup points from one scrambled Sobol or Halton sequence, a coordinate per parameter in the order drawn.

    QMCSampler cannot serve as GPSampler's independent sampler: its sample_independent hands every
    draw to its own RandomSampler(seed), so `sobolN` here gives N *random* startup trials, the same
    points as `startN`. This one keys the point by trial number and the coordinate by the
    parameter's position within the trial; floats only (the benchmark functions' ranges).
    """

    def __init__(self, kind: str, seed: int, n: int = 64, dims: int = 32) -> None:
        from scipy.stats import qmc

        engine = (
            qmc.Sobol(dims, scramble=True, seed=seed) if kind == "sobol" else qmc.Halton(dims, scramble=True, seed=seed)
        )
        self._points = engine.random(n)
        self._random = optuna.samplers.RandomSampler(seed=seed)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        if not isinstance(dist, optuna.distributions.FloatDistribution) or dist.step is not None:
            return self._random.sample_independent(study, trial, name, dist)
        u = float(self._points[trial.number % len(self._points), len(trial.params) % self._points.shape[1]])
        if dist.log:
            return float(np.exp(np.log(dist.low) + u * (np.log(dist.high) - np.log(dist.low))))
        return dist.low + u * (dist.high - dist.low)


class BoxedAcqf:
    """The acquisition function seen through a box: z in [0, 1] maps to lo + z * width (width 1 on discrete dims)."""

    def __init__(self, inner: Any, lo: np.ndarray, width: np.ndarray) -> None:
        import torch

        self.inner, self.lo, self.width = inner, lo, width
        self._lo_t, self._width_t = torch.from_numpy(lo), torch.from_numpy(width)
        self.search_space = inner.search_space
        self.length_scales = inner.length_scales / width  # a step in z moves x by width: the kernel sees it shorter

    def to_x(self, z: np.ndarray) -> np.ndarray:
        return self.lo + z * self.width

    def eval_acqf(self, z: Any) -> Any:
        return self.inner.eval_acqf(self._lo_t + z * self._width_t)

    def eval_acqf_no_grad(self, z: np.ndarray) -> np.ndarray:
        return self.inner.eval_acqf_no_grad(self.to_x(z))


class TrustRegionGP(optuna.samplers.GPSampler):
    """Late in the budget the acquisition is optimised only in a box around the incumbent (cf. TuRBO)."""

    def __init__(
        self,
        *,
        budget: int,
        side: float,
        end_side: float,
        start_fraction: float,
        start_at: int | None,
        by_lengthscale: bool,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.budget, self.side, self.end_side = budget, side, end_side
        self.start_fraction, self.start_at, self.by_lengthscale = start_fraction, start_at, by_lengthscale
        self._n_seen = 0

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        self._n_seen = len(completed) + len(running)  # the trial being asked is number _n_seen (0-based)
        return super()._sample_relative_impl(study, completed, running, space)

    def current_side(self) -> float | None:
        start = self.start_at if self.start_at is not None else round(self.start_fraction * self.budget)
        if self._n_seen < start:
            return None
        progress = (self._n_seen - start) / max(self.budget - 1 - start, 1)
        return self.side + (self.end_side - self.side) * min(progress, 1.0)

    def _optimize_acqf(self, acqf: Any, best_params: np.ndarray | None) -> np.ndarray:
        from optuna._gp import optim_mixed

        side = self.current_side()
        if side is None or best_params is None:
            return super()._optimize_acqf(acqf, best_params)
        centre = best_params[0]
        cont = acqf.search_space.continuous_indices
        sides = np.full(len(cont), side)
        if self.by_lengthscale:
            ls = np.asarray(acqf.length_scales)[cont]
            sides = side * ls / np.exp(np.mean(np.log(ls)))
        lo, width = np.zeros(len(centre)), np.ones(len(centre))
        lo[cont] = np.clip(centre[cont] - sides / 2, 0.0, 1.0)
        width[cont] = np.clip(centre[cont] + sides / 2, 0.0, 1.0) - lo[cont]
        width = np.maximum(width, 1e-9)
        boxed = BoxedAcqf(acqf, lo, width)
        warm = (best_params - lo) / width  # the incumbent, inside the box
        z, _ = optim_mixed.optimize_acqf_mixed(
            boxed,  # type: ignore[arg-type]
            warmstart_normalized_params_array=np.clip(warm, 0.0, 1.0),
            n_preliminary_samples=self._n_preliminary_samples,
            n_local_search=self._n_local_search,
            tol=self._tol,
            rng=self._rng.rng,
        )
        return boxed.to_x(z)


def kernel_prior(length_scale_term: Any, noise_rate: float = 30.0) -> Any:
    """GPSampler's kernel prior (optuna._gp.prior.default_log_prior) with another length-scale term and noise rate.

    `length_scale_term(inverse_squared_lengthscales)` is the log prior of the length scales; the
    kernel scale keeps Optuna's Gamma(2, 1), the noise variance gets Gamma(1.1, noise_rate).
    """
    import torch

    def gamma(x: Any, concentration: float, rate: float) -> Any:
        return (concentration - 1) * torch.log(x) - rate * x

    def log_prior(gpr: Any) -> Any:
        return (
            length_scale_term(gpr.inverse_squared_lengthscales)
            + gamma(gpr.kernel_scale, 2, 1)
            + gamma(gpr.noise_var, 1.1, noise_rate)
        )

    return log_prior


def optuna_length_scale_term(mode: float = 1.0) -> Any:
    """Optuna's length-scale term, -(0.1 / s + 0.1 * s) for s = 1 / length scale**2, moved to peak at `mode`."""

    peak = 1.0 / mode**2  # of the inverse squared length scale

    def term(isl: Any) -> Any:
        s = isl / peak
        return -(0.1 / s + 0.1 * s).sum()

    return term


def lognormal_length_scale_term(scale: float = 1.0) -> Any:
    """Hvarfner et al.'s (2024) length-scale prior, LogNormal(sqrt(2) + log(d) / 2, sqrt(3)), BoTorch's default.

    `scale` moves the prior's location by log(scale): below 1, shorter length scales.
    """
    import math

    import torch

    sigma = math.sqrt(3)

    def term(isl: Any) -> Any:
        mu = math.sqrt(2) + math.log(len(isl)) / 2 + math.log(scale)
        log_ls = -0.5 * torch.log(isl)
        return (-((log_ls - mu) ** 2) / (2 * sigma**2) - log_ls).sum()

    return term


def mixture_length_scale_term(mode: float) -> Any:
    """Per length scale, an even mixture of Optuna's term (mode 1) and the same shape at `mode`, both normalised.

    The fit then picks, per parameter, whichever the data supports: short where the trials say bumpy.
    """
    import math

    import torch

    def term(isl: Any) -> Any:
        s = isl * mode**2
        wide = -(0.1 / isl + 0.1 * isl)
        short = -(0.1 / s + 0.1 * s) + 2 * math.log(mode)  # p_m(l) = m^2 g(l m^2): the same mass
        return torch.logaddexp(wide, short).sum()

    return term


def loo_log_predictive(fit: Any) -> float:
    """Leave-one-out log predictive density of the fitted GP's own trials (closed form; Rasmussen & Williams 5.4.2)."""
    import torch

    inverse = torch.cholesky_inverse(fit._cov_Y_Y_chol)
    d, alpha = inverse.diagonal(), fit._cov_Y_Y_inv_Y
    return float((0.5 * torch.log(d) - 0.5 * alpha**2 / d).sum())


class LooSelectGP(optuna.samplers.GPSampler):
    """Each suggestion fits the kernel under Optuna's prior and under `alt_prior`, and keeps the one whose fit
    predicts its own trials better, left out one at a time."""

    def __init__(self, *, alt_prior: Any, **kw: Any) -> None:
        super().__init__(**kw)
        from optuna._gp import prior

        self.priors = {"optuna": prior.default_log_prior, "alt": alt_prior}
        self.fits: dict[str, Any] = {}
        self.chosen: list[str] = []

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        from optuna._gp import gp

        ss, x, y = gp_training_data(study, completed, space)
        scores = {}
        for name, log_prior in self.priors.items():
            self.fits[name] = gp.fit_kernel_params(
                X=x,
                Y=y,
                is_categorical=ss.is_categorical,
                log_prior=log_prior,
                minimum_noise=self._minimum_noise,
                gpr_cache=self.fits.get(name),
                deterministic_objective=self._deterministic,
            )
            scores[name] = loo_log_predictive(self.fits[name])
        best = max(scores, key=scores.__getitem__)
        self.chosen.append(best)
        self._log_prior, self._gprs_cache_list = self.priors[best], [self.fits[best]]
        return super()._sample_relative_impl(study, completed, running, space)


class ScheduledPriorGP(optuna.samplers.GPSampler):
    """The variant's kernel prior until `until` of the budget, then Optuna's default (explore early, exploit late)."""

    def __init__(self, *, budget: int, until: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.budget, self.until = budget, until
        self.early_prior: Any = None

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        from optuna._gp import prior

        late = len(completed) + len(running) >= self.until * self.budget
        self._log_prior = prior.default_log_prior if late else self.early_prior
        return super()._sample_relative_impl(study, completed, running, space)


class AcqfGP(optuna.samplers.GPSampler):
    """GPSampler with log probability of improvement (`pi`) or UCB (`ucbB`) in place of log EI, sequential asks only."""

    def __init__(self, *, acq: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.acq = acq

    def _optimize_acqf(self, acqf: Any, best_params: np.ndarray | None) -> np.ndarray:
        from optuna._gp import acqf as acqf_module

        if isinstance(acqf, acqf_module.LogEI):
            if self.acq == "pi":
                acqf = acqf_module.LogPI(gpr=acqf._gpr, search_space=acqf.search_space, threshold=acqf._threshold)
            else:
                acqf = acqf_module.UCB(gpr=acqf._gpr, search_space=acqf.search_space, beta=float(self.acq[3:]))
        return super()._optimize_acqf(acqf, best_params)


def sampler(variant: str, seed: int, trials: int = 25) -> optuna.samplers.BaseSampler:
    if variant == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    kw: dict[str, Any] = {"seed": seed}
    cls: type[optuna.samplers.GPSampler] = optuna.samplers.GPSampler
    attrs: dict[str, Any] = {}
    tr: dict[str, Any] = {}
    parts = variant.split("+")
    # the noise rate applies to whichever prior the variant names, wherever `noiseR` stands in it
    noise_rate = next((float(part[5:]) for part in parts if part.startswith("noise")), 30.0)
    for part in parts:
        if part == "det":
            kw["deterministic_objective"] = True
        elif part == "warp":
            cls = WarpedGP
        elif part == "twostart":
            cls = TwoStartGP
        elif part == "trls":
            tr["by_lengthscale"] = True
        elif part.startswith("trend"):
            tr["end_side"] = int(part[5:]) / 100
        elif part.startswith("trat"):
            tr["start_at"] = int(part[4:])
        elif part.startswith("trfrom"):
            tr["start_fraction"] = int(part[6:]) / 100
        elif part.startswith("tr"):
            tr["side"] = int(part[2:]) / 100
        elif part.startswith(("halton", "qsobol")):
            kind = "halton" if part.startswith("halton") else "sobol"
            kw["n_startup_trials"] = int(part[len(kind) + (kind == "sobol") :])
            kw["independent_sampler"] = QmcStartup(kind, seed)
        elif part.startswith("start"):
            kw["n_startup_trials"] = int(part[5:])
        elif part.startswith("sobol"):
            kw["n_startup_trials"] = int(part[5:])
            kw["independent_sampler"] = optuna.samplers.QMCSampler(
                qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=False
            )
        elif part.startswith("lnprior"):
            attrs["_log_prior"] = kernel_prior(lognormal_length_scale_term(int(part[7:] or 100) / 100), noise_rate)
        elif part.startswith("loo"):
            alt = kernel_prior(optuna_length_scale_term(int(part[3:]) / 100), noise_rate)
            cls, kw["alt_prior"] = LooSelectGP, alt
        elif part.startswith("mix"):
            attrs["_log_prior"] = kernel_prior(mixture_length_scale_term(int(part[3:]) / 100), noise_rate)
        elif part.startswith("lsmode"):
            attrs["_log_prior"] = kernel_prior(optuna_length_scale_term(int(part[6:]) / 100), noise_rate)
        elif part.startswith("noise"):
            attrs.setdefault("_log_prior", kernel_prior(optuna_length_scale_term(), noise_rate))
        elif part.startswith("mcmc"):
            cls, kw["kernel_samples"] = MarginalGPSampler, int(part[4:])
        elif part.startswith("cap"):
            kw["max_trials"] = int(part[3:])
        elif part == "pi" or part.startswith("ucb"):
            cls, kw["acq"] = AcqfGP, part
        elif part.startswith("until"):
            cls, kw["budget"], kw["until"] = ScheduledPriorGP, trials, int(part[5:]) / 100
        elif part.startswith("ls"):
            attrs["_n_local_search"] = int(part[2:])
        elif part.startswith("pre"):
            attrs["_n_preliminary_samples"] = int(part[3:])
        elif part != "defaults":
            raise SystemExit(f"unknown variant part {part!r}")
    if tr:
        if "side" not in tr:
            raise SystemExit(f"{variant!r}: a trust region needs its side, trS")
        kw |= {
            "budget": trials,
            "end_side": tr["side"],
            "start_fraction": 0.6,
            "start_at": None,
            "by_lengthscale": False,
        }
        kw |= tr
        cls = TrustRegionGP
    built = cls(**kw)
    for name, value in attrs.items():
        setattr(built, name, value)
    if isinstance(built, ScheduledPriorGP):
        built.early_prior = built._log_prior
    return built


# Every problem this bench knows: Branin and Hartmann-6 as bench/bayesian.py runs them, and the suite.
PROBLEMS = {name: (OBJECTIVES[name], FUNCTIONS[name]["minimum"], FUNCTIONS[name]["ranges"]) for name in OBJECTIVES}
PROBLEMS |= SUITE


def run(problem: str, variant: str, seed: int, trials: int) -> dict[str, float]:
    """Regret after 25 and 50 trials: f*'s distance from the true value of the trial that *looks* best.

    A problem named NAME+noiseS is NAME seen through Gaussian noise of sd S (drawn per seed), as a
    training run's metric is; the sampler sees the noisy values, the regret is the true one.
    """
    name, _, noise = problem.partition("+noise")
    objective, best, ranges = PROBLEMS[name]
    noise_rng = np.random.default_rng(seed + 10_000)
    spec = function_spec(name, Path(tempfile.gettempdir()), "Bayesian", seed, trials, ranges)
    study = optuna.create_study(direction="minimize", sampler=sampler(variant, seed, trials))
    seen, true, asks = [], [], []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        params = suggest_params(trial, spec)
        asks.append(time.perf_counter() - start)
        true.append(objective(params))
        seen.append(true[-1] + (float(noise_rng.normal(0, float(noise))) if noise else 0.0))
        study.tell(trial, seen[-1])

    def regret(n: int) -> float:
        return true[min(range(n), key=seen.__getitem__)] - best

    return {f"r{n}": regret(n) for n in (25, 50) if n <= trials} | {"ask": statistics.fmean(asks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", help=f"one of {', '.join(PROBLEMS)}, optionally +noiseS (e.g. hartmann6+noise0.1)")
    parser.add_argument("variants", help="comma-separated, e.g. defaults,det,sobol7+ls20")
    parser.add_argument("--seeds", default="101-116", help="FIRST-LAST")
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--cache", type=Path, help="JSON of finished runs (default: one per problem and seeds)")
    args = parser.parse_args()
    if args.problem.partition("+noise")[0] not in PROBLEMS:
        parser.error(f"unknown problem {args.problem!r}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    try:
        first, last = (int(s) for s in args.seeds.split("-"))
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: FIRST-LAST, e.g. 101-120")
    seeds = range(first, last + 1)
    cache = args.cache or Path(f"bayesian-variants-{args.problem}-{args.seeds}-{args.trials}.json")
    done = json.loads(cache.read_text()) if cache.exists() else {}
    variants = ["tpe", *args.variants.split(",")]
    for variant in variants:
        try:  # a part missing its number (`mcmc` for `mcmc10`) would fail only when its first seed runs
            sampler(variant, seed=0, trials=args.trials)
        except ValueError:
            parser.error(f"variant {variant!r}: a part lacks its number (e.g. mcmc10, start5, cap30, lsmode30)")
    for variant in variants:
        for seed in seeds:
            key = f"{variant}|{seed}"
            if key not in done:
                done[key] = run(args.problem, variant, seed, args.trials)
                cache.write_text(json.dumps(done))
    baseline = {n: statistics.median(done[f"tpe|{s}"][f"r{n}"] for s in seeds) for n in (25, 50) if n <= args.trials}
    for variant in variants:
        cells = "  ".join(
            f"@{n} {(m := statistics.median(done[f'{variant}|{s}'][f'r{n}'] for s in seeds)):.4f} ({m / b:.2f} of TPE)"
            for n, b in baseline.items()
        )
        ask = statistics.median(done[f"{variant}|{s}"]["ask"] for s in seeds)
        print(
            f"{args.problem} {variant:<24} seeds {args.seeds}: {cells}  ask {ask:.3f} s  load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
