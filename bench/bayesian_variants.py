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
`trls` (sides scaled by the kernel's length scales, TuRBO's box, same volume). `defaults` is
GPSampler(seed) itself, `tpe` TPESampler(seed). Sequential ask/tell, the same search space and
draws as bench/bayesian.py. Regrets are cached per run in a JSON file, so a stopped run resumes
and several processes can split the seeds.

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

from adapters.local.search import suggest_params

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


class TwoStartGP(optuna.samplers.GPSampler):
    """The kernel is fitted from the previous fit and from a low-noise start; the higher posterior seeds GPSampler."""

    def _sample_relative_impl(self, study: Any, completed: Any, running: Any, space: Any) -> Any:
        import torch
        from optuna._gp import gp
        from optuna._gp.search_space import SearchSpace
        from optuna.samplers._gp.sampler import _standardize_values

        ss = SearchSpace(space)
        x = ss.get_normalized_params(completed)
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
        y = _standardize_values(sign * np.array([t.values for t in completed]))[0][:, 0]
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


def sampler(variant: str, seed: int, trials: int = 25) -> optuna.samplers.BaseSampler:
    if variant == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    kw: dict[str, Any] = {"seed": seed}
    cls: type[optuna.samplers.GPSampler] = optuna.samplers.GPSampler
    attrs: dict[str, Any] = {}
    tr: dict[str, Any] = {}
    for part in variant.split("+"):
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
    return built


def run(problem: str, variant: str, seed: int, trials: int) -> dict[str, float]:
    spec = function_spec(problem, Path(tempfile.gettempdir()), "Bayesian", seed, trials)
    study = optuna.create_study(direction="minimize", sampler=sampler(variant, seed, trials))
    values, asks = [], []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        params = suggest_params(trial, spec)
        asks.append(time.perf_counter() - start)
        values.append(OBJECTIVES[problem](params))
        study.tell(trial, values[-1])
    best = FUNCTIONS[problem]["minimum"]
    return {f"r{n}": min(values[:n]) - best for n in (25, 50) if n <= trials} | {"ask": statistics.fmean(asks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=list(OBJECTIVES))
    parser.add_argument("variants", help="comma-separated, e.g. defaults,det,sobol7+ls20")
    parser.add_argument("--seeds", default="101-116", help="FIRST-LAST")
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--cache", type=Path, help="JSON of finished runs (default: one per problem and seeds)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    first, last = (int(s) for s in args.seeds.split("-"))
    seeds = range(first, last + 1)
    cache = args.cache or Path(f"bayesian-variants-{args.problem}-{args.seeds}-{args.trials}.json")
    done = json.loads(cache.read_text()) if cache.exists() else {}
    variants = ["tpe", *args.variants.split(",")]
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
