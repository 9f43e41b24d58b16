"""The Ray backend: the local runner's sweep (Optuna's study, search and early stopping, hpo-flow's
records) with each trial placed by Ray on a node of a cluster that has room for it.

Modules: `backend` (what the registry knows of it), `settings` (`backends.ray`), `adapter` (the
port: the local adapter's, with Ray's plan and placement), `cluster` (the runner's side: slots on
Ray, a trial's output coming back), `node` (what runs on each node). Importing this package
imports no Ray: the registry reads `backend` on every validate.
"""
