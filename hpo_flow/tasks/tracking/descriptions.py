"""What a reviewer reads on a sweep's parent run: its params, tags and note, ranges in readable
form, the early-stopping policy, and the config snapshot with secrets masked."""

from __future__ import annotations

from typing import Any

from hpo_flow.adapters.port import SweepRef, SweepState, Trial
from hpo_flow.adapters.redact import MASK, redact, redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.tracking.schema import (
    BACKEND,
    BEST_TRIAL_ID,
    CLOUD_ID,
    EARLY_STOPPING,
    GENERATION,
    NOTE,
    OBJECTIVE_METRIC,
    OBJECTIVE_TYPE,
    STRATEGY,
    SWEEP_MESSAGE,
    SWEEP_REF,
    SWEEP_STATUS,
    TRIALS,
    URL,
)
from hpo_flow.tasks.tracking.store import flat_params


def sweep_params(config: HpoConfig) -> dict[str, str]:
    """The parent run's params: each range in readable form, the fixed hyperparameters, the budget."""
    params = {f"{name}.range": r.describe() for name, r in config.tuning.hyperparameter_ranges.items()}
    params.update(flat_params(config.fixed_hyperparameters()))
    t = config.tuning
    params.update(
        {
            "tuning.objective": f"{t.objective_type.value} {t.objective_metric}",
            "tuning.max_jobs": str(t.max_jobs),
            "tuning.max_parallel_jobs": str(t.max_parallel_jobs),
        }
    )
    return params


def sweep_tags(config: HpoConfig, ref: SweepRef, state: SweepState, best: Trial | None) -> dict[str, str]:
    counts: dict[str, int] = {}
    for trial in state.trials:
        counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
    tags = {
        BACKEND: ref.backend,
        GENERATION: str(config.generation),  # hpo_flow.tasks.lineage finds the config's generations by it
        CLOUD_ID: redact_text(ref.cloud_id or ""),
        STRATEGY: config.tuning.strategy.value,
        EARLY_STOPPING: describe_early_stopping(config),
        OBJECTIVE_METRIC: config.tuning.objective_metric,
        OBJECTIVE_TYPE: config.tuning.objective_type.value,
        SWEEP_STATUS: state.status.value,
        SWEEP_REF: redact_text(ref.to_json()),  # how `hpo-flow status/cancel/logs` reach the sweep again
        TRIALS: ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none yet",
        NOTE: sweep_note(config, ref, state, best),
    }
    if ref.url:
        tags[URL] = redact_text(ref.url)
    if state.message:
        tags[SWEEP_MESSAGE] = redact_text(state.message)
    if best is not None:
        tags[BEST_TRIAL_ID] = best.id
    return tags


def sweep_note(config: HpoConfig, ref: SweepRef, state: SweepState, best: Trial | None) -> str:
    """The parent run's description in the MLflow UI: what ran, and who won."""
    metric = config.tuning.objective_metric
    lines = [
        f"Sweep `{ref.name}` on **{ref.backend}**: {state.status.value}, "
        f"{len(state.finished_trials)} of {config.tuning.max_jobs} trials finished.",
        "",
    ]
    if best is None:
        lines.append("No trial has produced an objective yet.")
    else:
        lines += [
            f"Best trial `{best.id}`: {metric} = {best.objective:.6g} ({config.objective.value}).",
            "",
            "| hyperparameter | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {v} |" for k, v in sorted(flat_params(best.params).items())]
    if state.message:
        lines += ["", f"Service message: {redact_text(state.message)}"]
    return "\n".join(lines)


def describe_early_stopping(config: HpoConfig) -> str:
    es = config.tuning.early_stopping
    if es.policy.value == "off":
        return "off"
    details = {
        "evaluation_interval": es.evaluation_interval,
        "delay_evaluation": es.delay_evaluation,
        "slack_factor": es.slack_factor,
        "slack_amount": es.slack_amount,
        "truncation_percentage": es.truncation_percentage if es.policy.value == "truncation" else None,
    }
    if es.policy.value == "asha":
        details.update(min_resource=es.min_resource, reduction_factor=es.reduction_factor)
    shown = ", ".join(f"{k}={v}" for k, v in details.items() if v is not None)
    return f"{es.policy.value}({shown})"


def config_snapshot(config: HpoConfig) -> dict[str, Any]:
    """The config as recorded on the parent run: secret-looking keys and URL passwords masked,
    and every environment value masked too (any of them may be a credential under a plain name)."""
    data = config.model_dump(mode="json", by_alias=True)

    def mask_env(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    {ek: MASK for ek in v}
                    if k in ("environment", "environment_variables") and isinstance(v, dict)
                    else mask_env(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [mask_env(v) for v in node]
        return node

    return redact(mask_env(data))
