"""The team's own Prefect flows (hpo-flow's is `hpo_flow.hpo_sweep`)."""
