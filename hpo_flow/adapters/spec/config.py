"""`HpoConfig`, the whole file, with the checks that span its sections and the values derived
from it that every layer shares (sweep name, config hash, fixed hyperparameters)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any

from pydantic import (
    Field,
    model_validator,
)

from hpo_flow.adapters.errors import ConfigError, Problem
from hpo_flow.adapters.spec import arguments as arguments_template
from hpo_flow.adapters.spec.backends import Backends, MlflowSettings
from hpo_flow.adapters.spec.base import Scalar, Strict, _close, _masked
from hpo_flow.adapters.spec.lineage import Lineage
from hpo_flow.adapters.spec.ranges import _VOCABULARY, RangeType, _num
from hpo_flow.adapters.spec.training import Training
from hpo_flow.adapters.spec.tuning import Objective, Tuning


class HpoConfig(Strict):
    project: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    training: Training
    tuning: Tuning
    backends: Backends = Field(default_factory=lambda: Backends.model_validate({}))
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    lineage: Lineage | None = None  # set by hpo-flow for the sweep it submits; never in config.yaml

    @model_validator(mode="after")
    def _cross_checks(self) -> HpoConfig:
        problems = cross_problems(self.model_dump(by_alias=True, mode="json"))
        if problems:
            raise ConfigError(problems)
        return self

    # ---- derived values every layer shares

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.project

    @property
    def registered_model_name(self) -> str:
        return self.mlflow.registered_model or self.project

    @property
    def objective(self) -> Objective:
        return self.tuning.objective_type

    def fixed_hyperparameters(self) -> dict[str, Scalar]:
        """Hyperparameters passed unchanged to every trial: the tuned ones are left out."""
        tuned = self.tuning.hyperparameter_ranges
        return {k: v for k, v in self.training.hyperparameters.items() if k not in tuned}

    def config_hash(self) -> str:
        """Hash of everything that defines the sweep, and nothing write-back changes: the config's
        meaning (not its comments) and, once `lineage` names it, the training code's digest.

        Values equal to hpo-flow's defaults are left out, whether written or not: a new hpo-flow
        version that adds a setting (or changes a default) must re-attach to a sweep the old one
        started, not name it anew and pay for a second one; and a config dumped in full (the
        runner's spec.json, the snapshot in MLflow) names the same sweep as the file it came from
        (tests/test_sweep_identity.py pins a reference config's name)."""
        body = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        body.setdefault("training", {})
        body.setdefault("tuning", {})
        body["training"]["hyperparameters"] = self.fixed_hyperparameters()
        # What the config says of its backends, not the sections and places of whatever else is installed.
        body["backends"] = self.backends.written()
        body["training"]["inputs"] = {name: data.written() for name, data in self.training.inputs.items()}
        for key in ("enabled", "update_config", "poll_interval_seconds", "cancel_on_flow_exit", "sweep_name"):
            body["tuning"].pop(key, None)
        body.pop("mlflow", None)
        lineage = body.pop("lineage", None)
        if lineage and lineage.get("code"):
            body["code"] = lineage["code"]
        blob = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:10]

    @property
    def generation(self) -> int:
        return self.lineage.generation if self.lineage else 1

    def sweep_name(self, max_length: int = 63) -> str:
        """The sweep's name: `<base>-<hash>` for the first generation, `<base>-<hash>-g<N>` after it.

        Deterministic, so that submitting the same spec again re-attaches to the same sweep; which
        generation a flow run submits is decided in one place, `hpo_flow.adapters.lifecycle.decide`. A fixed
        `tuning.sweep_name` replaces `<base>-<hash>`.
        """
        suffix = f"-g{self.generation}" if self.generation > 1 else ""
        room = max_length - len(suffix)
        if self.tuning.sweep_name:
            return self.tuning.sweep_name[:room].rstrip("-") + suffix
        base = re.sub(r"[^A-Za-z0-9-]+", "-", self.tuning.base_tuning_job_name or self.project).strip("-")
        digest = self.config_hash()[:8]
        base = base[: max(1, room - len(digest) - 1)].rstrip("-")
        return f"{base}-{digest}{suffix}"

    def warnings(self) -> list[Problem]:
        found: list[Problem] = []
        t = self.tuning
        if t.max_parallel_jobs > t.max_jobs:
            found.append(
                Problem(
                    "tuning.max_parallel_jobs",
                    t.max_parallel_jobs,
                    f"more than max_jobs ({t.max_jobs}); only {t.max_jobs} will run at once",
                    warning=True,
                )
            )
        for name, r in t.hyperparameter_ranges.items():
            if r.step is None or r.min is None or r.max is None:
                continue
            steps = (r.max - r.min) / r.step
            if abs(steps - round(steps)) > 1e-6 * max(1.0, abs(steps)):
                top = r.min + math.floor(steps + 1e-9) * r.step
                found.append(
                    Problem(
                        f"tuning.hyperparameter_ranges.{name}.max",
                        r.max,
                        f"not reachable from min in steps of {_num(r.step)}; the largest value tried is {_num(top)}",
                        warning=True,
                    )
                )
        found += self.training.report_warnings(t.objective_metric)
        return _masked(found)


def _argument_problems(training: dict[str, Any], ranges: Any) -> list[Problem]:
    """training.arguments names every tuned hyperparameter, input and fixed value, and nothing else."""
    try:
        arguments = arguments_template.split(training.get("arguments"))
    except ValueError:
        return []  # reported by the field itself
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        return []
    tuned = [str(n) for n in ranges] if isinstance(ranges, dict) else []
    given = training.get("hyperparameters")
    fixed = [str(n) for n in given if n not in tuned] if isinstance(given, dict) else []
    inputs = [str(n) for n in found] if isinstance(found := training.get("inputs"), dict) else []
    return [
        Problem(path, value, message)
        for path, value, message in arguments_template.problems(arguments, tuned, fixed, inputs)
    ]


def cross_problems(data: Any) -> list[Problem]:
    """Checks that span sections. Defensive: runs on raw YAML too, so that a config with
    type errors elsewhere still gets these reported in the same pass."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return problems
    training = found if isinstance(found := data.get("training"), dict) else {}
    tuning = found if isinstance(found := data.get("tuning"), dict) else {}
    defs = training.get("metric_definitions")
    names = [d.get("Name") for d in defs if isinstance(d, dict)] if isinstance(defs, list) else None
    objective = tuning.get("objective_metric")
    # No definitions at all: every metric is read from the trial's MLflow run (Azure ML's way); with
    # some, the objective must be one of them (a typo would otherwise go unread).
    if isinstance(objective, str) and names and objective not in names:
        close = _close(objective, [n for n in names if isinstance(n, str)])
        hint = f"did you mean '{close}'? Or add" if close else "add"
        problems.append(
            Problem(
                "tuning.objective_metric",
                objective,
                f"no metric definition has this Name; {hint} "
                f'{{Name: {objective}, Regex: "{objective}: ([0-9.]+)"}} to training.metric_definitions',
            )
        )
    strategy = tuning.get("strategy")
    ranges = tuning.get("hyperparameter_ranges")
    problems += _argument_problems(training, ranges)
    if isinstance(strategy, str) and strategy.strip().lower() == "grid" and isinstance(ranges, dict):
        for name, spec in ranges.items():
            if not isinstance(spec, dict):
                continue
            kind = str(spec.get("type", "")).strip().lower()
            canonical = _VOCABULARY.get(kind, (None,))[0]
            has_step = spec.get("step") is not None or spec.get("q") is not None
            if canonical == RangeType.continuous and not has_step:
                message = "Grid needs a finite set of values; give this range a step, or make it categorical or integer"
            elif canonical in (RangeType.normal, RangeType.lognormal):
                message = "Grid cannot enumerate a normal distribution; list the values to try as a categorical range"
            else:
                continue
            problems.append(Problem(f"tuning.hyperparameter_ranges.{name}.type", spec.get("type"), message))
    return problems
