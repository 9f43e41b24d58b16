"""The flow's first step: read config.yaml, apply overrides, validate, and say what will run."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters.redact import redact
from hpo_flow.adapters.spec import HpoConfig, load_config
from hpo_flow.tasks.runlog import run_logger


# No retries: a config that fails validation fails the same way every time.
@task(name="load-config", cache_policy=NO_CACHE)
def load_config_task(config_path: str, overrides: dict[str, Any] | list[str] | None = None) -> HpoConfig:
    """Load and validate the config; raises ConfigError listing every problem at once."""
    log = run_logger()
    config = load_config(config_path, overrides or None)
    for warning in config.warnings():
        log.warning("config: %s", warning)
    t = config.tuning
    log.info(
        "%s: %s on %s, %d trials (%d at a time), %s %s, early stopping %s",
        config_path,
        t.strategy.value,
        t.backend,
        t.max_jobs,
        t.max_parallel_jobs,
        t.objective_type.value.lower(),
        t.objective_metric,
        t.early_stopping.policy.value,
    )
    if overrides:
        pairs = dict(item.partition("=")[::2] for item in overrides) if isinstance(overrides, list) else overrides
        log.info("overrides: %s", ", ".join(f"{k}={v}" for k, v in redact(pairs).items()))
    return config
