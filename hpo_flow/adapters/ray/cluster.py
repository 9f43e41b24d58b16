"""Trials placed on a Ray cluster: the local runner's placement for `tuning.backend: ray`.

The runner keeps everything a local sweep keeps (the study, the search, early stopping, each
trial's output.log and record); Ray decides where each trial runs. The sweep holds one actor per
trial it may run at once (`TrialSlot`, asking Ray for `gpus_per_trial`, `cpus_per_trial` and
`resources` each), so Ray's scheduler, not ours, says how many fit and on which node: a slot
that Ray cannot place yet waits (and asks an autoscaler for a node) without holding a trial.
A trial's output comes back through the actor as it is printed, into a pipe of the runner's, so
the loop reads a Ray trial as it reads a local one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import optuna

from hpo_flow.adapters.code import CODE_IGNORE
from hpo_flow.adapters.local.hosts import PlacementFailed, PlacementLost
from hpo_flow.adapters.local.slots import Slot
from hpo_flow.adapters.local.state import SweepPaths, trial_id
from hpo_flow.adapters.local.trial_io import RunningTrial, make_trial_dir
from hpo_flow.adapters.ray.node import TrialSlot, unpack_model
from hpo_flow.adapters.ray.settings import RAY_FILE, RayBackend, node_spec, ray_settings
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.trial_tracking import TrialTracking

log = logging.getLogger("hpo_flow.local")

NAMESPACE = "hpo-flow"
READ_WAIT_S = 0.5  # how long one read of a trial's output waits at the node for something to say
UNAVAILABLE_GRACE_S = 60.0  # an actor Ray cannot reach for this long is counted as lost
START_WAIT_S = 60.0  # a slot's start call (the trial's folder, its process) answers within this
UPKEEP_S = 0.5  # how often the runner asks Ray which slots it placed and which it lost
FIRST_SLOTS_QUIET_S = 0.5  # at the start, once one slot is placed, the others are waited for while Ray places
FIRST_SLOTS_SETTLE_S = 3.0  # one at least this often, and this long at the most


def runtime_env(spec: HpoConfig, settings: RayBackend, cwd: Path) -> dict[str, Any]:
    """What Ray ships to every node: training.source_dir as the working directory, without what no
    backend ships (hpo_flow.adapters.code), plus the config's own `runtime_env` (pip, env_vars, ...)."""
    source = (cwd / spec.training.source_dir).resolve()
    excludes = list(CODE_IGNORE)
    workdir = (cwd / spec.backends.local.workdir).resolve()
    if workdir.is_relative_to(source) and workdir != source:
        excludes.append("/" + workdir.relative_to(source).as_posix())
    env = dict(settings.runtime_env)
    env["working_dir"] = str(source)
    env["excludes"] = excludes + list(env.get("excludes", []))
    return env


class RayPlacement:
    """Slots on a Ray cluster for one runner: connected when made, every actor killed on `close`."""

    def __init__(self, spec: HpoConfig, paths: SweepPaths, cwd: Path) -> None:
        import ray

        self.ray = ray
        self.spec = spec
        self.paths = paths
        self.settings = ray_settings(spec)
        self.node_spec_json = node_spec(spec, cwd).model_dump_json()
        self.wanted = spec.tuning.max_parallel_jobs
        self.started_here = self.settings.address is None
        init: dict[str, Any] = {
            "namespace": NAMESPACE,
            "runtime_env": runtime_env(spec, self.settings, cwd),
            "log_to_driver": False,  # a trial's output reaches its output.log, not the runner's
            "logging_level": logging.WARNING,
        }
        try:
            if self.started_here:  # a Ray instance of this sweep's own on this machine, stopped with it
                context = ray.init(
                    address="local",
                    include_dashboard=True,
                    dashboard_host="127.0.0.1",
                    dashboard_port=_free_port(),  # two sweeps on one machine each have their own
                    **init,
                )
            else:
                context = ray.init(address=self.settings.address, **init)
        except (ValueError, TypeError) as exc:  # what Ray refuses in the runtime env it was given
            raise PlacementFailed(f"Ray refused backends.ray.runtime_env: {_first_line(exc)}") from None
        self.dashboard = f"http://{context.dashboard_url}" if context.dashboard_url else None
        self.address = context.address_info.get("gcs_address") or self.settings.address or "local"
        self.slot_class = ray.remote(TrialSlot).options(  # type: ignore[attr-defined]
            num_gpus=self.settings.gpus_per_trial,
            num_cpus=self.settings.cpus_per_trial,
            resources=dict(self.settings.resources),
            max_concurrency=4,  # a read waiting for output must not hold up a signal or a start
            max_restarts=0,  # a slot lost with its node is replaced by a new one; its trial is retried
        )
        self.actors: dict[int, Any] = {}  # slot index -> actor, placed or not
        self.holds: dict[Any, int] = {}  # each slot's `hold` call: it returns only when the actor is gone
        self.pending: dict[Any, int] = {}  # `where` of slots not yet placed -> slot index
        self.placed: dict[int, Slot] = {}
        self.retired: list[Slot] = []  # placed slots whose actor died, for the runner to stop using
        self.next_index = 0
        self.next_upkeep = 0.0
        (paths.root / RAY_FILE).write_text(
            json.dumps({"address": self.address, "dashboard": self.dashboard, "started_here": self.started_here})
        )
        log.info("Ray cluster %s; dashboard: %s", self.address, self.dashboard or "not running")
        self._top_up()

    # ------------------------------------------------------------------ slots

    def _top_up(self) -> None:
        while len(self.actors) < self.wanted:
            index = self.next_index
            self.next_index += 1
            actor = self.slot_class.remote(self.spec.sweep_name(), str(self.paths.root))
            self.actors[index] = actor
            self.pending[actor.where.remote()] = index
            self.holds[actor.hold.remote()] = index

    def first_slots(self) -> list[Slot]:
        """The slots placed once Ray has placed at least one (waits for it, within the config's limit)."""
        limit = self.settings.placement_timeout_seconds
        deadline = time.monotonic() + limit
        while not self.placed:
            found = self.new_slots(wait=min(1.0, max(0.0, deadline - time.monotonic())))
            if found or self.placed:
                break
            if time.monotonic() >= deadline or (self.started_here and not self._feasible()):
                raise NoRoom(self._no_room_message(limit))
        # The others Ray is placing right now start with it, not one by one over the next seconds
        # (each slot is a worker process to boot); a slot Ray cannot place yet is not waited for.
        settle = time.monotonic() + FIRST_SLOTS_SETTLE_S
        while self.pending and time.monotonic() < settle:
            if not self.new_slots(wait=FIRST_SLOTS_QUIET_S):
                break  # nothing placed for a while: the rest waits for room
        return list(self.placed.values())

    def new_slots(self, wait: float = 0.0) -> list[Slot]:
        """Slots Ray placed since the last call; lost slots are replaced by new actors."""
        now = time.monotonic()
        if not wait and now < self.next_upkeep:  # the loop asks on every turn; Ray is asked at most this often
            return []
        self.next_upkeep = now + UPKEEP_S
        self._drop_gone()
        if not self.pending:
            return []
        ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=wait)
        found = []
        for ref in ready:
            index = self.pending.pop(ref)
            try:
                where = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                if "RuntimeEnvSetupError" in f"{type(exc).__name__} {exc}":  # every slot would fail the same way
                    raise PlacementFailed(
                        f"Ray could not set up backends.ray.runtime_env on a node: {_last_line(exc)}"
                    ) from None
                log.warning("a Ray slot could not start: %s", _first_line(exc))
                self.actors.pop(index, None)
                continue
            gpus = ",".join(where["gpu_ids"])
            # Two nodes can share an address (several on one machine, or behind one NAT): the id tells them apart.
            label = f"ray:{where['node_ip']}/{where['node_id'][:8]}" + (f"/gpu:{gpus}" if gpus else "")
            slot = Slot(index, name=label, node=where)
            self.placed[index] = slot
            found.append(slot)
        if found:
            log.info("Ray placed %d slot(s): %s", len(found), [s.label for s in found])
        return found

    def _drop_gone(self) -> None:
        """Forget the slots whose actor died (its node went, or Ray killed it); new ones replace them."""
        if not self.holds:
            return
        gone, _ = self.ray.wait(list(self.holds), num_returns=len(self.holds), timeout=0)
        for ref in gone:
            index = self.holds.pop(ref)
            self.actors.pop(index, None)
            self.pending = {r: i for r, i in self.pending.items() if i != index}
            slot = self.placed.pop(index, None)
            if slot is not None:
                self.retired.append(slot)
        if gone:
            self._top_up()

    def take_retired(self) -> list[Slot]:
        found, self.retired = list(self.retired), []
        return found

    def lost(self, slot: Slot) -> None:
        """The runner saw `slot`'s actor fail: stop counting on it (a new one replaces it)."""
        index = slot.index
        if self.placed.pop(index, None) is None:
            return
        actor = self.actors.pop(index, None)
        if actor is not None:
            _kill(self.ray, actor)
        self.holds = {r: i for r, i in self.holds.items() if i != index}
        self._top_up()

    def _feasible(self) -> bool:
        need = self._need()
        for node in self.ray.nodes():
            if node.get("Alive") and all(node["Resources"].get(k, 0.0) >= v for k, v in need.items()):
                return True
        return False

    def _need(self) -> dict[str, float]:
        need = {"GPU": self.settings.gpus_per_trial, "CPU": self.settings.cpus_per_trial, **self.settings.resources}
        return {k: float(v) for k, v in need.items() if v}

    def _no_room_message(self, waited: float) -> str:
        nodes = [
            {k: v for k, v in n["Resources"].items() if not k.startswith("node:") and "memory" not in k}
            for n in self.ray.nodes()
            if n.get("Alive")
        ]
        where = "this machine's Ray instance" if self.started_here else f"the Ray cluster at {self.address}"
        waited_for = "" if self.started_here else f" within backends.ray.placement_timeout_seconds ({waited:g} s)"
        return (
            f"no node of {where} can hold one trial{waited_for}: a trial asks for {self._need()}, the nodes have "
            f"{nodes}; lower backends.ray.gpus_per_trial, cpus_per_trial or resources, or add a node that has them"
        )

    # ------------------------------------------------------------------ trials

    def start(
        self,
        spec: HpoConfig,
        paths: SweepPaths,
        cwd: Path,
        trial: optuna.trial.Trial,
        params: dict[str, Any],
        slot: Slot,
        tracking: TrialTracking | None = None,
    ) -> RunningTrial:
        number = trial.number
        tdir = paths.trial_dir(number)
        model_dir = make_trial_dir(tdir)
        actor = self.actors.get(slot.index)
        if actor is None:
            raise PlacementLost(f"Ray slot {slot.label} is gone")
        run = tracking.open(spec.sweep_name(), trial_id(number)) if tracking is not None else None
        env = dict(run.env) if run is not None else {}
        try:
            pid = self.ray.get(actor.start.remote(self.node_spec_json, number, params, env), timeout=START_WAIT_S)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as exc:
            lost = f"Ray slot {slot.label} did not answer: {_first_line(exc)}"
            raise PlacementLost(lost, tracking_run=run.run_id if run is not None else None) from None
        proc = RayTrialProcess(self.ray, actor, pid, slot, model_dir)
        handle = open(tdir / "output.log", "ab", buffering=0)  # noqa: SIM115 - closed when the trial ends
        # Where a node that shares the sweep's folder ran it (./outputs/model is then the model there);
        # another node hands its model back into model_dir instead.
        return RunningTrial.begin(spec, trial, params, slot, proc, handle, model_dir, run, tdir / "code")

    def close(self) -> None:
        """Every actor of the sweep goes, and with it every trial process (they die with their actor)."""
        for actor in self.actors.values():
            _kill(self.ray, actor)
        self.actors.clear()
        self.ray.shutdown()


class NoRoom(PlacementFailed):
    """No node of the cluster can hold one trial as configured."""


class RayTrialProcess:
    """A trial running on a Ray node, seen as the loop sees a local trial process: two pipes that carry
    its output, a return code once it ended, signals that reach its process group on the node."""

    def __init__(self, ray: Any, actor: Any, pid: int, slot: Slot, model_dir: Path) -> None:
        self.ray = ray
        self.actor = actor
        self.pid = pid  # on its node
        self.slot = slot
        self.model_dir = model_dir
        self.returncode: int | None = None
        self.lost: str | None = None  # why Ray lost the trial (its node died): it is retried
        out_r, self._out_w = os.pipe()
        err_r, self._err_w = os.pipe()
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.stdout = os.fdopen(out_r, "rb", buffering=0)
        self.stderr = os.fdopen(err_r, "rb", buffering=0)
        self._thread = threading.Thread(target=self._pump, name=f"ray-trial-{pid}", daemon=True)
        self._thread.start()

    def where(self) -> dict[str, Any]:
        node = self.slot.node or {}
        # No pid or group here: a number from another machine must never be signalled on this one.
        return {
            "pid": None,
            "pgid": None,
            "node": node.get("node_ip"),
            "node_id": node.get("node_id"),
            "node_pid": self.pid,
        }

    def _pump(self) -> None:
        exc_types = self.ray.exceptions
        unreachable_since: float | None = None
        try:
            while True:
                try:
                    got = self.ray.get(self.actor.read.remote(READ_WAIT_S))
                except exc_types.ActorUnavailableError as exc:
                    # A node that stopped answering may come back; one that is gone is declared dead by Ray.
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since > UNAVAILABLE_GRACE_S:
                        self._lose(exc)
                        return
                    time.sleep(0.5)
                    continue
                unreachable_since = None
                _write_all(self._out_w, got["stdout"])
                _write_all(self._err_w, got["stderr"])
                if got["exit"] is not None:
                    self._collect()
                    self.returncode = int(got["exit"])
                    return
        except exc_types.RayError as exc:
            self._lose(exc)
        except BaseException as exc:
            self.lost = f"its output could not be read from Ray ({type(exc).__name__}: {exc})"
            self.returncode = -9
        finally:
            os.close(self._out_w)
            os.close(self._err_w)

    def _collect(self) -> None:
        """The model from a node that keeps its own trial folders. The trial ended and its output is
        read: a node lost now costs the model, never a second run of a finished trial."""
        try:
            archive = self.ray.get(self.actor.collect.remote(), timeout=START_WAIT_S)
        except self.ray.exceptions.RayError as exc:
            log.warning("the model of the trial on %s was not fetched: %s", self.slot.label, _first_line(exc))
            return
        if archive:
            unpack_model(archive, self.model_dir)

    def _lose(self, exc: BaseException) -> None:
        text = str(exc)
        node = (self.slot.node or {}).get("node_ip", "?")
        if "node" in text.lower() and ("died" in text.lower() or "dead" in text.lower()):
            self.lost = f"its Ray node {node} died"
        else:
            self.lost = f"Ray lost its slot on {node} ({_first_line(exc)})"
        self.returncode = -9

    def poll(self) -> int | None:
        return self.returncode

    def exited(self) -> bool:
        return self.returncode is not None

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def signal_group(self, signum: int) -> bool:
        if self.returncode is not None:
            return False
        self.actor.signal.remote(signum)  # fire and forget: the trial's end comes back through _pump
        return True


def _kill(ray: Any, actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception as exc:  # an actor already gone, or a cluster that is: nothing left to kill
        log.debug("Ray kill: %s", exc)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _last_line(exc: BaseException) -> str:
    """The cause at the end of a traceback Ray carries over from a node."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
