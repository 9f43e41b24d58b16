"""`lineage`: which sweep of a config a spec is. Set by hpo-flow (`hpo_flow.adapters.lifecycle`), never in
config.yaml: the training code's digest (part of the sweep's identity), the generation, and what
the generation starts from (the earlier generations' sweeps and their best values)."""

from __future__ import annotations

from pydantic import Field

from hpo_flow.adapters.spec.base import ParamName, ScalarValue, Strict


class Lineage(Strict):
    code: str | None = None  # digest of the shipped training code (hpo_flow.adapters.code.code_digest)
    generation: int = Field(default=1, ge=1)
    # earlier generations' sweep names on the same backend, newest first: SageMaker's warm-start parents
    parents: list[str] = Field(default_factory=list)
    # the best values the earlier generations found, best first: the local study tries them first
    warm_points: list[dict[ParamName, ScalarValue]] = Field(default_factory=list)
