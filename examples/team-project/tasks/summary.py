"""After the sweep: a summary of what it chose, for the team's dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from hpo_flow import SweepOutcome


@task(name="write-summary")
def write_summary(outcome: SweepOutcome, rows: int, path: str) -> dict[str, Any]:
    """Write the sweep's result as JSON to `path` and as a markdown artifact; return it."""
    summary = {
        "status": outcome.status,
        "sweep": outcome.sweep,
        "rows": rows,
        "trials": outcome.trials,
        "best_trial": outcome.best_trial,
        "best_objective": outcome.best_objective,
        "best_params": outcome.best_params,
        "model": f"{outcome.model_name}/{outcome.model_version}" if outcome.model_version else None,
        "promoted": outcome.promoted,
    }
    Path(path).write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"| {key} | {value} |" for key, value in summary.items()]
    create_markdown_artifact("\n".join(["| | |", "|---|---|", *lines]), key="team-sweep-summary")
    return summary
