"""`backends.ray`: where the Ray cluster is and what each trial asks it for. No Ray import here: the
section is validated on every `hpo-flow validate`, with or without the `ray` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.spec.base import Strict

RAY_FILE = "ray.json"  # in the sweep's directory: the cluster's address and dashboard, for status and logs
# Set by hpo-flow itself: working_dir is training.source_dir (so one copy of the code is hashed,
# shipped and run everywhere).
OWN_RUNTIME_ENV_KEYS = ("working_dir",)
# Ray 2.60's public runtime_env fields (ray.runtime_env.RuntimeEnv.known_fields) a config may set.
RUNTIME_ENV_KEYS = (
    "pip",
    "uv",
    "conda",
    "env_vars",
    "py_modules",
    "py_executable",
    "excludes",
    "container",
    "image_uri",
    "config",
    "worker_process_setup_hook",
    "java_jars",
)


class RayBackend(Strict):
    # null: a Ray instance on this machine, started for the sweep and stopped with it; "auto": the
    # cluster this machine belongs to (`ray start` ran here); "ray://head:10001": Ray Client; or host:port.
    address: str | None = None
    gpus_per_trial: float = Field(default=1.0, ge=0)  # fractions share a GPU: 0.5 puts two trials on one
    cpus_per_trial: float = Field(default=1.0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)  # custom resources a node declares
    runtime_env: dict[str, Any] = Field(default_factory=dict)  # pip, env_vars, conda, ...: shipped to every node
    # How long a sweep waits for Ray to place its first trial (an autoscaler adding a node) before failing.
    placement_timeout_seconds: float = Field(default=300.0, gt=0)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "null", "none", "local"):
            return None
        text = value.strip()
        if text == "auto" or text.startswith("ray://") or (":" in text and text.rsplit(":", 1)[1].isdigit()):
            return text
        raise ValueError(
            "must be null (a Ray instance started for the sweep on this machine), auto (the cluster this "
            "machine joined with `ray start`), ray://HEAD:10001 (Ray Client) or HEAD:6379"
        )

    @field_validator("gpus_per_trial", "cpus_per_trial")
    @classmethod
    def _fraction(cls, value: float) -> float:
        # Ray takes fractions below one GPU, and whole numbers above: 1.5 GPUs is no placement it makes.
        if value > 1 and value != int(value):
            raise ValueError(f"{value:g} is neither a share of one (0.5, 0.25) nor a whole number; use one of those")
        return value

    @field_validator("runtime_env")
    @classmethod
    def _runtime_env(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(RUNTIME_ENV_KEYS) - set(OWN_RUNTIME_ENV_KEYS))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} is not a field of Ray's runtime_env; use {', '.join(RUNTIME_ENV_KEYS)}"
            )
        for key in OWN_RUNTIME_ENV_KEYS:
            if key in value:
                raise ValueError(
                    f"{key} is training.source_dir, which hpo-flow ships itself; remove {key} and set "
                    "training.source_dir instead"
                )
        env_vars = value.get("env_vars", {})
        if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
            raise ValueError("env_vars maps names to strings; quote numbers, e.g. OMP_NUM_THREADS: '4'")
        return value


def ray_settings(spec: HpoConfig) -> RayBackend:
    section = spec.backends.section("ray")
    return section if isinstance(section, RayBackend) else RayBackend()


def input_place(spec: HpoConfig, name: str, cwd: Path) -> str | None:
    """Where a node reads an input: its `ray` place, else its `local` one; a path that exists here is
    made absolute (the same path on every node of a shared file system, or this very machine)."""
    data = spec.training.inputs[name]
    place = getattr(data, "ray", None) or data.local
    if place is None:
        return None
    path = Path(place) if Path(place).is_absolute() else cwd / place
    return str(path.resolve()) if path.exists() else place


def node_spec(spec: HpoConfig, cwd: Path) -> HpoConfig:
    """The spec as a node runs a trial of it: each input at its place for Ray (as `local`, which is what
    the local runner's launch reads). Never stored or hashed: the sweep is the spec's, unchanged."""
    inputs = {
        name: data.model_copy(update={"local": input_place(spec, name, cwd)})
        for name, data in spec.training.inputs.items()
    }
    training = spec.training.model_copy(update={"inputs": inputs})
    return spec.model_copy(update={"training": training})
