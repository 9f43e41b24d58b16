"""`RayAdapter`: the port for `tuning.backend: ray`.

Everything but the placement is the local backend's: `submit` starts the same detached runner
(which connects to Ray and places each trial there), `poll` reads the same study, `cancel` stops
the runner, which kills every actor of the sweep and with them every trial, wherever it runs.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import BackendError, Problem
from hpo_flow.adapters.local.adapter import LocalAdapter
from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.ray.settings import RAY_FILE, RayBackend, input_place, node_spec, ray_settings
from hpo_flow.adapters.redact import MASK, is_secret_key, redact
from hpo_flow.adapters.spec import HpoConfig

DASHBOARD_WAIT_S = 60.0  # submit waits this long for the runner to reach Ray and say where its dashboard is


class RayAdapter(LocalAdapter):
    backend = "ray"

    def problems(self, spec: HpoConfig) -> list[Problem]:
        from hpo_flow.adapters.local.search import local_problems
        from hpo_flow.adapters.local.warm import warm_start_problems

        on_nodes = node_spec(spec, Path.cwd())
        # An input a node reads by URI is the script's to open; a path must be there, as locally.
        paths = {k: v for k, v in on_nodes.training.inputs.items() if "://" not in (v.local or "")}
        checked = on_nodes.model_copy(update={"training": on_nodes.training.model_copy(update={"inputs": paths})})
        # The local runner's own limit on trials at once is said below in Ray's words (no `hpo-flow worker`).
        found = [_as_ray(p) for p in local_problems(checked) if p.path != "tuning.max_parallel_jobs"]
        return found + ray_problems(spec) + warm_start_problems(spec)

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        from hpo_flow.adapters.local.plan import build_plan

        plan = build_plan(spec, problems=self.problems(spec), backend=self.backend)
        settings = ray_settings(spec)
        plan.pop("slots", None)
        plan.pop("parallelism", None)
        plan["backend"] = self.backend
        plan["placement"] = placement_plan(spec, settings)
        first = plan["first_trial"]
        first["environment"]["CUDA_VISIBLE_DEVICES"] = "set by Ray: the GPU(s) it gives the trial's slot"
        first["cwd"] = "a folder of the trial's own on its node, linking Ray's copy of training.source_dir"
        first.pop("cwd_holds", None)
        first["log"] += " (the runner writes what the trial prints on its node, as it prints it)"
        return plan

    def run_worker(self, spec: HpoConfig) -> int:
        raise BackendError(
            "a Ray sweep places its trials on every node of its Ray cluster itself; start no hpo-flow worker: "
            "add the machine to the cluster (ray start --address HEAD:6379) instead"
        )

    def submit(self, spec: HpoConfig) -> SweepRef:
        ref = super().submit(spec)
        url = _dashboard(Path(ref.workdir or "."), wait=DASHBOARD_WAIT_S)
        return SweepRef(**{**json.loads(ref.to_json()), "url": url}) if url else ref


def _dashboard(root: Path, wait: float) -> str | None:
    """The Ray dashboard's address, as the runner wrote it once connected (None if it does not say)."""
    from hpo_flow.adapters.local.state import SweepPaths, runner_alive

    path = root / RAY_FILE
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline and runner_alive(SweepPaths(root)):
        time.sleep(0.1)
    try:
        found = json.loads(path.read_text()).get("dashboard")
    except (OSError, ValueError):
        return None
    return str(found) if found else None


def _as_ray(problem: Problem) -> Problem:
    """A local runner's problem, said of the Ray backend: inputs are read at their place for Ray."""
    if problem.path.startswith("training.inputs.") and problem.path.endswith(".local"):
        return Problem(problem.path[: -len("local")] + "ray", problem.value, problem.message, problem.warning)
    return problem


def ray_problems(spec: HpoConfig) -> list[Problem]:
    """What Ray itself would refuse, said before anything is submitted."""
    from hpo_flow.adapters.local.slots import MAX_LOCAL_SLOTS

    settings = ray_settings(spec)
    found = []
    if importlib.util.find_spec("ray") is None:
        found.append(
            Problem("tuning.backend", "ray", "Ray is not installed here; pip install 'hpo-flow[ray]' (Ray 2.60)")
        )
    if settings.address is None and settings.gpus_per_trial > 0:
        from hpo_flow.adapters.local.slots import detect_gpus

        if not detect_gpus():
            found.append(
                Problem(
                    "backends.ray.gpus_per_trial",
                    settings.gpus_per_trial,
                    "this machine has no GPU for the Ray instance hpo-flow starts here (backends.ray.address: null); "
                    "set 0 to run trials on CPUs, or set backends.ray.address to a cluster that has GPUs",
                )
            )
    if spec.tuning.max_parallel_jobs > MAX_LOCAL_SLOTS:
        found.append(
            Problem(
                "tuning.max_parallel_jobs",
                spec.tuning.max_parallel_jobs,
                f"one runner reads the output of at most {MAX_LOCAL_SLOTS} trials at once; set {MAX_LOCAL_SLOTS} "
                "or less (Ray still spreads them over every node)",
            )
        )
    if settings.gpus_per_trial == 0 and settings.cpus_per_trial == 0 and not settings.resources:
        found.append(
            Problem(
                "backends.ray.cpus_per_trial",
                0,
                "a trial that asks Ray for nothing is never limited: every trial of the sweep would start at once; "
                "ask for at least a CPU share (cpus_per_trial: 1) or a GPU share",
            )
        )
    return found


def placement_plan(spec: HpoConfig, settings: RayBackend) -> dict[str, Any]:
    """What the runner asks Ray for, as `plan` shows it."""
    from hpo_flow.adapters.ray.cluster import runtime_env

    per_trial = {"GPU": settings.gpus_per_trial, "CPU": settings.cpus_per_trial, **settings.resources}
    env = runtime_env(spec, settings, Path.cwd())
    if "env_vars" in env:
        env["env_vars"] = {k: (MASK if is_secret_key(k) else redact(v)) for k, v in env["env_vars"].items()}
    at_once = spec.tuning.max_parallel_jobs
    gpu_note = (
        f"; {int(1 / settings.gpus_per_trial)} trials share one GPU"
        if 0 < settings.gpus_per_trial < 1 and (1 / settings.gpus_per_trial).is_integer()
        else ""
    )
    return {
        "address": settings.address or "a Ray instance on this machine, started for the sweep and stopped with it",
        "resources_per_trial": {k: v for k, v in per_trial.items() if v},
        "at_once": (
            f"at most {at_once} (tuning.max_parallel_jobs), and no more than the cluster's resources hold: "
            f"Ray places one slot per trial{gpu_note}"
        ),
        "runtime_env": env,
        "inputs": {name: input_place(spec, name, Path.cwd()) for name in spec.training.inputs},
        "on_node_loss": "the trial is retried once, elsewhere, with the reason; a retry lost too is not retried",
        "dashboard": "printed when the sweep starts, and by hpo-flow status",
    }
