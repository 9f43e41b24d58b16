"""The MLflow schema: every key hpo-flow writes to MLflow or reads back, where it sits, and its format.

This is the one module that spells an `hpo.*` key; every other module uses these constants (a test
greps the package for literal keys). Each key is declared with `_key(key, where, holds)`: `where`
says which MLflow object carries it, `holds` what it holds and in what format. The section
"MLflow schema" of docs/mlflow-and-writeback.md is `markdown()` of these declarations (a test
checks the two are equal; `python -m hpo_flow.tasks.tracking.schema` prints it).

Structured values are written and read by the functions below (`format_objective` and
`read_objective`, `PromotionVerdict.tags` and `.from_tags`, ...), never by hand.
Everything stored is a string, since MLflow tags are; numbers are written with `repr(float)`,
flags as "true" / "false".

Standard library only: the tracking store imports it, and a local run must stay lean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# Where a key sits.
EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered model"
PARENT_RUN = "parent run"  # one per sweep
TRIAL_RUN = "trial run"  # one per trial, nested under its sweep's parent run
MODEL_VERSION = "model version"  # one per sweep's winner


@dataclass(frozen=True)
class Key:
    """One key of the schema: the key, the MLflow objects that carry it, what it holds."""

    key: str
    where: tuple[str, ...]
    holds: str
    kind: str = "tag"  # tag, param or metric


KEYS: list[Key] = []


def _key(key: str, where: tuple[str, ...], holds: str, kind: str = "tag") -> str:
    KEYS.append(Key(key, where, holds, kind))
    return key


TRUE, FALSE = "true", "false"  # how a flag is stored


class PromotionBasis(StrEnum):
    """Why the alias moved or stayed (`hpo.promotion_basis`)."""

    HOLDS_ALREADY = "holds_already"  # this version holds the alias already (a re-run of its sweep)
    NO_HOLDER = "no_holder"  # no version held the alias
    BEATS = "beats"  # better: it beats the holder's objective
    DOES_NOT_BEAT = "does_not_beat"  # better: it does not (a tie keeps the holder)
    NOT_COMPARABLE = "not_comparable"  # better: the holder has no objective of this metric recorded
    HOLDER_NEWER = "holder_newer"  # always: the holder is a newer version (never taken back)
    ALWAYS = "always"  # always: the alias moves to every sweep's best
    NEVER = "never"  # never: the alias is moved by hand
    STOPPED = "stopped"  # better: the sweep was stopped (a cancel, a signal) before it finished


RULES = ("better", "always", "never")  # the values of `hpo.promotion_rule` (`mlflow.promote`)

# ----------------------------------------------------------------- finding runs again

RUN_KIND = _key(
    "hpo.run_kind", (PARENT_RUN, TRIAL_RUN), "`sweep` on the parent run, `trial` on each trial run: what searches match"
)
SWEEP_KIND, TRIAL_KIND = "sweep", "trial"  # the values of RUN_KIND
SWEEP_NAME = _key(
    "hpo.sweep_name",
    (PARENT_RUN, TRIAL_RUN, MODEL_VERSION),
    "the sweep's name (`SweepRef.name`), as the backend knows it",
)
CONFIG_HASH = _key(
    "hpo.config_hash",
    (PARENT_RUN, MODEL_VERSION),
    "hash of the config and code the sweep ran (`HpoConfig.config_hash()`); with the name it finds the parent run",
)
TRIAL_ID = _key("hpo.trial_id", (TRIAL_RUN, MODEL_VERSION), "the trial's id (`Trial.id`): finds its run again")
SWEEP_REF = _key(
    "hpo.sweep_ref",
    (PARENT_RUN,),
    "the sweep's handle, `SweepRef.to_json()` (redacted): how `hpo-flow status/cancel/logs` reach the sweep",
)
BACKEND = _key("hpo.backend", (PARENT_RUN, MODEL_VERSION), "the backend's name (`local`, `sagemaker`, `azure`, ...)")
GENERATION = _key(
    "hpo.generation",
    (PARENT_RUN,),
    "the sweep's generation of this config, an integer from 1: `tasks.lineage` finds the earlier ones by it",
)
RECORDED = _key(
    "hpo.recorded",
    (PARENT_RUN,),
    "`true` once the flow that drove the sweep finished recording it (the next run starts the next generation); "
    "absent before",
)
RECORDER = _key(
    "hpo.recorder",
    (PARENT_RUN,),
    "`<process>:<count>`: which process recorded the sweep last and how often (`tracking.ledger`)",
)
PROJECT = _key("hpo.project", (EXPERIMENT, REGISTERED_MODEL), "the config's `project`")

# ----------------------------------------------------------------- the sweep, for a reviewer

CLOUD_ID = _key("hpo.cloud_id", (PARENT_RUN,), "the service's id of the sweep (ARN, job name), empty for local")
URL = _key("hpo.url", (PARENT_RUN,), "the service's page of the sweep; absent when it has none")
STRATEGY = _key("hpo.strategy", (PARENT_RUN,), "`tuning.strategy` (`Bayesian`, `Random`, ...)")
EARLY_STOPPING = _key(
    "hpo.early_stopping", (PARENT_RUN,), "the early-stopping policy in words, e.g. `median(evaluation_interval=1)`"
)
OBJECTIVE_METRIC = _key(
    "hpo.objective_metric",
    (PARENT_RUN, MODEL_VERSION),
    "`tuning.objective_metric`: the name of the metric `hpo.objective` is a value of",
)
OBJECTIVE_TYPE = _key(
    "hpo.objective_type", (PARENT_RUN, MODEL_VERSION), "`Maximize` or `Minimize` (`tuning.objective_type`)"
)
SWEEP_STATUS = _key("hpo.sweep_status", (PARENT_RUN,), "the sweep's status, a `SweepStatus` value (`RUNNING`, ...)")
SWEEP_MESSAGE = _key(
    "hpo.sweep_message", (PARENT_RUN,), "the backend's message on the sweep (redacted); absent if none"
)
TRIALS = _key("hpo.trials", (PARENT_RUN,), "trial counts by status in words, e.g. `3 completed, 1 failed`")
BEST_TRIAL_ID = _key(
    "hpo.best_trial_id",
    (PARENT_RUN,),
    "the id of the result's best trial; absent when it has none (no trial scored, or the sweep FAILED)",
)
CONFIG_ARTIFACT = "hpo_config.json"  # the config snapshot's artifact path
ARTIFACTS = _key("hpo.artifacts", (PARENT_RUN,), f"`{CONFIG_ARTIFACT}` once the config snapshot is logged")
PLOTS_FOR = _key("hpo.plots_for", (PARENT_RUN,), "digest of the finished trials the current plots were drawn from")
DIFF_ARTIFACT, DIFF_UNCHANGED = "config/config.diff", "unchanged"  # the values of CONFIG_DIFF
CONFIG_DIFF = _key(
    "hpo.config_diff",
    (PARENT_RUN,),
    f"`{DIFF_ARTIFACT}` (the write-back diff's artifact path) or `{DIFF_UNCHANGED}`",
)
PROMOTION = _key(
    "hpo.promotion",
    (PARENT_RUN, MODEL_VERSION),
    "the promotion decision in words, e.g. `Promoted to @challenger: ...`: for people, never read back "
    "(the verdict's data is in the `hpo.promoted` ... `hpo.compared_objective` tags)",
)

# ----------------------------------------------------------------- each trial

TRIAL_STATUS = _key(
    "hpo.trial_status", (TRIAL_RUN,), "the trial's exact status, a `TrialStatus` value (`COMPLETED`, `PRUNED`, ...)"
)
OBJECTIVE = _key(
    "hpo.objective",
    (TRIAL_RUN, MODEL_VERSION),
    "the trial's objective value, a bare number (`repr(float)`, e.g. `0.9722`); its metric is `hpo.objective_metric`. "
    "Versions registered by earlier releases hold `<metric>=<value>`, still read (`read_objective`)",
)
BEST = _key("hpo.best", (TRIAL_RUN,), "`true` on the best trial's run; absent on every other")
PRUNED_REASON = _key("hpo.pruned_reason", (TRIAL_RUN,), "why a PRUNED trial was stopped early, in words")
FAILURE_REASON = _key("hpo.failure_reason", (TRIAL_RUN,), "why a FAILED or STOPPED trial ended, in words (redacted)")
MODEL_URI = _key("hpo.model_uri", (TRIAL_RUN,), "where the trial's model is (a path or a cloud URI, redacted)")
REGISTERED_AS = _key(
    "hpo.registered_model", (TRIAL_RUN,), "`<registered model>/<version>` the trial's model was registered as"
)

# ----------------------------------------------------------------- the registered model version

PARENT_RUN_ID = _key("hpo.parent_run_id", (MODEL_VERSION,), "the run id of the sweep's parent run")
PROMOTED = _key(
    "hpo.promoted", (MODEL_VERSION,), "`true` when the alias moved to this version (or stays on it), else `false`"
)
PROMOTION_RULE = _key(
    "hpo.promotion_rule", (MODEL_VERSION,), "`mlflow.promote` when decided: `better`, `always` or `never`"
)
PROMOTION_BASIS = _key(
    "hpo.promotion_basis",
    (MODEL_VERSION,),
    "why it moved or stayed, a `PromotionBasis` value: " + ", ".join(f"`{b.value}`" for b in PromotionBasis),
)
PROMOTION_ALIAS = _key("hpo.promotion_alias", (MODEL_VERSION,), "the alias decided on (`mlflow.alias`)")
COMPARED_VERSION = _key(
    "hpo.compared_version", (MODEL_VERSION,), "the version that held the alias when decided; absent when none did"
)
COMPARED_OBJECTIVE = _key(
    "hpo.compared_objective",
    (MODEL_VERSION,),
    "that version's objective value, a bare number; absent when it had none recorded for this metric",
)

# ----------------------------------------------------------------- metrics

_key("best_<objective_metric>", (PARENT_RUN,), "the best trial's objective value so far", kind="metric")
_key(
    "<metric>.final",
    (TRIAL_RUN,),
    "a metric's final value where the backend reported one that differs from its curve's last point",
    kind="metric",
)

# ----------------------------------------------------------------- MLflow's own keys we set

PARENT = _key("mlflow.parentRunId", (TRIAL_RUN,), "the parent run's id: nests the trial under its sweep")
NOTE = _key("mlflow.note.content", (PARENT_RUN, TRIAL_RUN), "the run's description (Markdown) in the MLflow UI")
EXPERIMENT_KIND = _key(
    "mlflow.experimentKind",
    (EXPERIMENT,),
    "`custom_model_development` unless already set: MLflow 3 opens the experiment as model training",
)
# MLflow 3 opens an experiment without this tag in its GenAI (traces) view; sweeps are model training.
EXPERIMENT_TAGS = {EXPERIMENT_KIND: "custom_model_development"}


def best_metric(objective_metric: str) -> str:
    """The parent run's metric key for the best value so far (`best_<objective_metric>`)."""
    return f"best_{objective_metric}"


def final_metric(metric: str) -> str:
    """A trial run's metric key for a final value that differs from the curve's last point (`<metric>.final`)."""
    return f"{metric}.final"


# ----------------------------------------------------------------- structured values


def flag(tags: Mapping[str, str], key: str) -> bool:
    """A flag tag (`hpo.best`, `hpo.recorded`, `hpo.promoted`): true only when it says "true"."""
    return tags.get(key) == TRUE


def format_objective(value: float) -> str:
    """An objective value as `hpo.objective` and `hpo.compared_objective` hold it: the bare number."""
    return repr(float(value))


def parse_objective(raw: str | None) -> tuple[str | None, float | None]:
    """(metric, value) of an `hpo.objective` value: the bare number of this version (metric None), or
    `<metric>=<value>` as model versions registered by earlier versions of hpo-flow hold it. A value
    that is neither, or not finite, is (metric, None)."""
    if not raw:
        return None, None
    metric, sep, number = raw.rpartition("=")
    if not sep:
        metric, number = "", raw
    try:
        value = float(number)
    except ValueError:
        return metric or None, None
    return metric or None, value if math.isfinite(value) else None


def read_objective(tags: Mapping[str, str]) -> tuple[str | None, float | None]:
    """(metric, value) a run's or model version's tags record: `hpo.objective` with its metric from
    `hpo.objective_metric`, or from the old `<metric>=<value>` form when that is what it holds."""
    metric, value = parse_objective(tags.get(OBJECTIVE))
    return tags.get(OBJECTIVE_METRIC) or metric, value


def format_registered(name: str, version: str) -> str:
    """`hpo.registered_model`: `<registered model>/<version>`."""
    return f"{name}/{version}"


def parse_registered(raw: str) -> tuple[str, str]:
    """(name, version) of an `hpo.registered_model` value."""
    name, _, version = raw.rpartition("/")
    return name, version


@dataclass(frozen=True)
class PromotionVerdict:
    """The promotion decision as data, stored on the model version in tags of fixed values."""

    promoted: bool  # the alias points at this version after the decision
    rule: str  # mlflow.promote: better, always or never
    basis: PromotionBasis
    alias: str
    compared_version: str | None = None  # the version that held the alias
    compared_objective: float | None = None  # its recorded objective, when it has one of this metric

    def tags(self) -> dict[str, str | None]:
        """The verdict's tags; None for a tag that must be absent (deleted where an earlier verdict set it)."""
        return {
            PROMOTED: TRUE if self.promoted else FALSE,
            PROMOTION_RULE: self.rule,
            PROMOTION_BASIS: self.basis.value,
            PROMOTION_ALIAS: self.alias,
            COMPARED_VERSION: self.compared_version,
            COMPARED_OBJECTIVE: None if self.compared_objective is None else format_objective(self.compared_objective),
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> PromotionVerdict | None:
        """The verdict a model version's tags hold; None when they hold none (a version registered
        by an earlier hpo-flow, which wrote only the words) or one with a value outside the schema."""
        promoted, rule, basis = tags.get(PROMOTED), tags.get(PROMOTION_RULE), tags.get(PROMOTION_BASIS)
        if promoted not in (TRUE, FALSE) or rule not in RULES or basis not in set(PromotionBasis):
            return None
        _, compared = parse_objective(tags.get(COMPARED_OBJECTIVE))
        return cls(
            promoted=promoted == TRUE,
            rule=str(rule),
            basis=PromotionBasis(basis),
            alias=tags.get(PROMOTION_ALIAS, ""),
            compared_version=tags.get(COMPARED_VERSION) or None,
            compared_objective=compared,
        )


# ----------------------------------------------------------------- the docs' table


def markdown() -> str:
    """The "MLflow schema" table of docs/mlflow-and-writeback.md."""
    lines = ["| key | kind | on | holds |", "| --- | --- | --- | --- |"]
    for k in KEYS:
        lines.append(f"| `{k.key}` | {k.kind} | {', '.join(k.where)} | {k.holds.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
