"""The local backend: sweeps on this machine's GPUs (or CPU slots), searched by Optuna, kept in durable storage.

Modules: `adapter` (the port), `plan`, `loop` (the sweep loop), `runner` (the detached process
`submit` starts), `worker` (scale-out), `slots`, `process`, `metrics`, `limits`, `storage`,
`state`; `search` and `pruners` map the config's strategy, ranges and early stopping onto Optuna.
Optuna is imported only when a sweep is planned, submitted or polled, and without redis.
"""

from hpo_flow.adapters.lean_imports import optuna_without_redis

optuna_without_redis()

from hpo_flow.adapters.local.adapter import LocalAdapter  # noqa: E402

__all__ = ["LocalAdapter"]
