"""Expected improvement averaged over posterior draws of the GP's kernel (adapters/local/marginal_gp.py).

A module of its own because it subclasses Optuna's acquisition base class, whose module imports
torch: it is loaded only when the Gaussian process makes a suggestion, never by `plan` or a TPE sweep.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from optuna._gp import acqf as acqf_module


class IntegratedAcqf(acqf_module.BaseAcquisitionFunc):
    """log of the mean of exp(part) over the parts: one (q-)log-EI per kernel draw, averaged."""

    def __init__(self, parts: list[acqf_module.BaseAcquisitionFunc], length_scales: np.ndarray, search_space: Any):
        self.parts = parts
        self._log_n = math.log(len(parts))
        super().__init__(length_scales, search_space)

    def eval_acqf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.stack([p.eval_acqf(x) for p in self.parts]), dim=0) - self._log_n


def integrate(acqf: Any, kernels: list[Any], rng: np.random.Generator) -> IntegratedAcqf:
    """GPSampler's acquisition `acqf` (LogEI, or qLogEI with running trials), once per kernel draw.

    With running trials, qLogEI's QMC samples are shared out among the draws (at least 16 each), so
    a suggestion costs about what one qLogEI with all of them does.
    """
    if type(acqf) is acqf_module.LogEI:
        parts: list[acqf_module.BaseAcquisitionFunc] = [
            acqf_module.LogEI(gpr=k, search_space=acqf.search_space, threshold=acqf._threshold) for k in kernels
        ]
    else:
        running = acqf._cond_gpr._X_running.numpy()
        n_qmc = max(16, math.ceil(acqf._per_sample_log_util_shape[0] / len(kernels)))
        parts = [
            acqf_module.qLogEI(
                gpr=k,
                search_space=acqf.search_space,
                threshold=acqf._threshold,
                n_qmc_samples=n_qmc,
                qmc_seed=int(rng.integers(2**30)),
                normalized_params_of_running_trials=running,
            )
            for k in kernels
        ]
    return IntegratedAcqf(parts, acqf.length_scales, acqf.search_space)
