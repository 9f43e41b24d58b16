"""The team's pipeline: check the data, tune with hpo-flow, publish a summary.

hpo-flow's flow runs inside it as a subflow. It is imported from the `hpo_flow` namespace, so
this project's own `flows/` and `tasks/` packages and hpo-flow's never shadow each other.

    python -m flows.team_pipeline [config.yaml]     # from the project's root; or deploy it (prefect.yaml)
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow
from tasks.data import check_data
from tasks.summary import write_summary

from hpo_flow import hpo_sweep


@flow(name="team-pipeline")
def team_pipeline(
    config_path: str = "config.yaml",
    data_path: str = "data/points.csv",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Tune the line fit on the current data; the summary is also written to summary.json."""
    rows = check_data(data_path)
    outcome = hpo_sweep(config_path, overrides=overrides)  # raises SweepFailedError if nothing won
    return write_summary(outcome, rows, "summary.json")


if __name__ == "__main__":
    print(team_pipeline(*sys.argv[1:2]))
