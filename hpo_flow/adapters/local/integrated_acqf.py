"""Expected improvement averaged over posterior draws of the GP's kernel (adapters/local/marginal_gp.py).

A module of its own because it subclasses Optuna's acquisition base class, whose module imports
torch: it is loaded only when the Gaussian process makes a suggestion, never by `plan` or a TPE sweep.
Optuna's private GP modules are reached through hpo_flow.adapters.local.optuna_access only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hpo_flow.adapters.local import optuna_access

_Base: Any = optuna_access.gp_acqf_module().BaseAcquisitionFunc


class IntegratedAcqf(_Base):  # type: ignore[misc]  # Optuna's base class, found at run time
    """log of the mean of exp(part) over the parts: one (q-)log-EI per kernel draw, averaged."""

    def __init__(self, parts: list[Any], length_scales: np.ndarray, search_space: Any):
        self.parts = parts
        self._log_n = math.log(len(parts))
        super().__init__(length_scales, search_space)

    def eval_acqf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.stack([p.eval_acqf(x) for p in self.parts]), dim=0) - self._log_n


def integrate(acqf: Any, kernels: list[Any], rng: np.random.Generator) -> IntegratedAcqf:
    """GPSampler's acquisition `acqf` (LogEI, or qLogEI with running trials), once per kernel draw,
    averaged; qLogEI's QMC samples are shared out among the draws, so a suggestion costs about what
    one qLogEI with all of them does."""
    return IntegratedAcqf(optuna_access.gp_acqf_per_kernel(acqf, kernels, rng), acqf.length_scales, acqf.search_space)
