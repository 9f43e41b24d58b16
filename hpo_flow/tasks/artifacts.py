"""What a person sees of a sweep in the Prefect UI: a progress bar, a ranked table, a summary.

Building the table and the summary are pure functions (tested without Prefect); publishing them is
the one task here. Every value shown passes through `redact` first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters.port import SweepState, SweepStatus, Trial, ranked_trials
from hpo_flow.adapters.redact import redact, redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.result import SweepResult


def artifact_key(sweep_name: str, what: str) -> str:
    """Keyed artifacts version per sweep in the UI; keys allow only lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", sweep_name.lower()).strip("-") or "sweep"
    return f"{slug}-{what}"


class SweepProgress:
    """The sweep's progress artifact: trials finished out of max_jobs, sent only when it moves."""

    def __init__(self, sweep_name: str, max_jobs: int) -> None:
        self.key = artifact_key(sweep_name, "progress")
        self.sweep_name = sweep_name
        self.max_jobs = max_jobs
        self._artifact_id: Any = None
        self._last: tuple[float, str] | None = None

    def update(self, finished: int, known: int, status: str) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        # A Grid sweep may hold more trials than max_jobs says; never show more than 100 %.
        total = max(self.max_jobs, known, 1)
        done = status in ("COMPLETED", "FAILED", "STOPPED")
        percent = 100.0 if done else round(100.0 * finished / total, 1)
        description = f"sweep {self.sweep_name}: {finished}/{total} trials finished ({status})"
        if (percent, description) == self._last:
            return
        if self._artifact_id is None:
            self._artifact_id = create_progress_artifact(percent, key=self.key, description=description)
        else:
            update_progress_artifact(self._artifact_id, percent, description=description)
        self._last = (percent, description)


def trials_table(config: HpoConfig, state: SweepState) -> list[dict[str, Any]]:
    """Every trial, best objective first: rank, id, status, objective, tuned values, duration, reason."""
    metric = config.tuning.objective_metric
    names = list(config.tuning.hyperparameter_ranges)
    rows: list[dict[str, Any]] = []
    for rank, trial in enumerate(ranked_trials(state.trials, config.objective), start=1):
        scored = trial.objective is not None and math.isfinite(trial.objective)
        params = redact(trial.params)
        row: dict[str, Any] = {
            "rank": rank if scored else None,
            "trial": trial.id,
            "status": trial.status.value,
            metric: trial.objective if scored else None,
        }
        row.update({name: params.get(name) for name in names})
        row["seconds"] = _duration(trial)
        row["note"] = redact_text(trial.failure_reason) if trial.failure_reason else None
        rows.append(row)
    return rows


def _duration(trial: Trial) -> float | None:
    if trial.started_at and trial.ended_at:
        return round((trial.ended_at - trial.started_at).total_seconds(), 1)
    return None


def count_statuses(state: SweepState) -> str:
    counts = Counter(t.status.value.lower() for t in state.trials)
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


def summary_markdown(config: HpoConfig, result: SweepResult, config_path: str) -> str:
    """The winner, its values, the registered model and the promotion decision, and the config diff,
    as markdown; a sweep without a winner says so and claims nothing else."""
    t = config.tuning
    ref, state, best, model = result.ref, result.state, result.best, result.model
    lines = [
        f"# Sweep `{ref.name}`",
        "",
        "| | |",
        "|---|---|",
        f"| backend | {ref.backend} |",
        f"| status | {state.status.value}{f' ({state.message})' if state.message else ''} |",
        f"| trials | {len(state.trials)} ({count_statuses(state)}) |",
        f"| objective | {t.objective_type.value.lower()} `{t.objective_metric}` |",
        f"| strategy | {t.strategy.value}, early stopping {t.early_stopping.policy.value} |",
        "",
    ]
    if best is None:
        why = (
            f"The backend reports the sweep {state.status.value}: it is recorded in MLflow for review, "
            "but nothing was registered and the config was not changed."
            if state.status == SweepStatus.FAILED
            else "No trial produced the objective metric: nothing was registered and the config was not changed."
        )
        lines += ["## No winner", "", why, "See the trials table and the trials' logs."]
        return redact_text("\n".join(lines)) + "\n"
    lines += [
        f"## Winner: trial `{best.id}`",
        "",
        f"**{t.objective_metric} = {best.objective:.6g}**",
        "",
        "| hyperparameter | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | `{v}` |" for k, v in redact(best.params).items()]
    if model is not None:
        held = model.version if model.promoted else model.alias_version
        lines += ["", "## Registered model", "", f"`{model.name}` version {model.version}.", ""]
        lines += [f"**{'Promoted' if model.promoted else 'Not promoted'}**: {model.promotion}."]
        if held:
            lines += [
                "",
                f"`@{model.alias}` is version {held}:",
                "",
                "```python",
                model.load_hint,
                "```",
            ]
    source = "the winning values" if model is None or model.promoted else f"the values of @{model.alias}'s version"
    heading = (
        f"{config_path} updated" if result.written else f"{config_path} not changed (the diff write-back would make)"
    )
    lines += ["", f"## Config diff: {heading}", ""]
    if result.config_note:
        lines += [f"Write-back: {result.config_note}.", ""]
    if result.diff:
        lines += ["```diff", result.diff.rstrip("\n"), "```"]
    elif not result.config_note:
        lines += [f"The config already holds {source}."]
    return redact_text("\n".join(lines)) + "\n"


@task(name="publish-results", cache_policy=NO_CACHE)
def publish_results(config: HpoConfig, result: SweepResult, config_path: str) -> None:
    """The ranked trials table and the summary, as artifacts of this flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    ref = result.ref
    create_table_artifact(
        trials_table(config, result.state),
        key=artifact_key(ref.name, "trials"),
        description=f"Trials of sweep {ref.name}, best {config.tuning.objective_metric} first",
    )
    create_markdown_artifact(
        summary_markdown(config, result, config_path),
        key=artifact_key(ref.name, "summary"),
        description=f"Winner of sweep {ref.name}, the promotion decision and the config diff",
    )
