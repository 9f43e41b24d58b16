"""The team's own Prefect tasks (hpo-flow's are `hpo_flow.tasks`: the two never meet)."""
