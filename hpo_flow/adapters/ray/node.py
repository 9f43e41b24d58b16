"""What runs on a Ray node: one slot of a sweep, an actor that runs its trials one at a time.

The runner (on the head, or wherever `hpo-flow run` started it) keeps the study, the search and
early stopping; each `TrialSlot` only starts a trial's process where Ray placed the slot, hands
its output back as it comes, passes signals on and returns the model. The process is launched as
the local runner launches it (its own session, `--name value`, the same environment), from one
thread that lives as long as the actor, so the trial dies with the actor (PR_SET_PDEATHSIG):
a cancelled sweep, a killed runner or a lost node leave no trial training on.

This module is imported on every node: the standard library and hpo-flow's own local process
helpers only, and Ray itself only inside the functions that need it.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hpo_flow.adapters.spec import HpoConfig

READ_CAP = 1 << 20  # bytes of output one read hands back: the rest waits for the next read
BUFFER_CAP = 8 * READ_CAP  # output held for the runner per stream; past it the trial waits on its pipe
LINGER_S = 0.05  # once output came, how long a read waits for more before answering
NODE_ROOT_VAR = "HPO_FLOW_RAY_NODE_DIR"  # where a node keeps its trials' folders (default: the temp dir)


class TrialSlot:
    """One slot: at most one trial process at a time, its output buffered until the runner reads it."""

    def __init__(self, sweep_name: str, sweep_dir: str) -> None:
        self.sweep_name = sweep_name
        # A node that sees the sweep's own directory (this machine, or a shared file system) writes
        # each trial's files there, where `hpo-flow` finds them; another keeps them in a folder of
        # its own and hands the model back when the trial ends.
        self.shared = Path(sweep_dir, "spec.json").is_file()
        base = Path(os.environ.get(NODE_ROOT_VAR) or tempfile.gettempdir(), "hpo-flow-ray")
        self.root = Path(sweep_dir, "trials") if self.shared else base / sweep_name / "trials"
        self.code = Path.cwd()  # Ray's copy of training.source_dir (runtime_env working_dir)
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpo-flow-spawn")
        self._lock = threading.Condition()
        self._proc: Any = None
        self._out: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._open = 0
        self._trial_dir: Path | None = None
        self._workdir: Path | None = None
        self._closed = threading.Event()

    def __repr__(self) -> str:
        # What the Ray dashboard shows for the actor, and the prefix of its log lines there.
        return f"hpo-flow sweep {self.sweep_name}"

    def where(self) -> dict[str, Any]:
        """The node this slot was placed on, and what Ray gave it."""
        import ray

        context = ray.get_runtime_context()
        return {
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "pid": os.getpid(),
            "shared": self.shared,
        }

    def start(self, spec_json: str, number: int, params: dict[str, Any], env: dict[str, str]) -> int:
        """Launch trial `number`; returns its pid on this node."""
        from hpo_flow.adapters.local.process import launch, trial_command, trial_environment
        from hpo_flow.adapters.local.state import trial_id
        from hpo_flow.adapters.local.trial_io import make_trial_dir, working_dir

        with self._lock:
            if self._proc is not None and self._open:
                raise RuntimeError(f"slot busy with pid {self._proc.pid}")
        spec = HpoConfig.model_validate_json(spec_json)
        # The code is Ray's copy on this node; the interpreter, this node's unless the config names one.
        training = spec.training.model_copy(update={"source_dir": str(self.code)})
        spec = spec.model_copy(update={"training": training})
        tdir = self.root / trial_id(number)
        model_dir = make_trial_dir(tdir)
        argv = trial_command(spec, params, python=spec.training.python or sys.executable)
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")  # Ray's choice of GPU(s) for this slot
        full_env = {**trial_environment(spec, trial_id(number), model_dir, gpus, params=params), **env}
        workdir = working_dir(self.code, tdir, tdir.parent.parent)
        proc = self._spawner.submit(launch, argv, workdir, full_env).result()
        assert proc.stdout is not None and proc.stderr is not None
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), True)
        with self._lock:
            self._proc, self._trial_dir, self._workdir = proc, tdir, workdir
            self._out = {"stdout": bytearray(), "stderr": bytearray()}
            self._open = 2
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()
        return int(proc.pid)

    def _pump(self, name: str, stream: Any) -> None:
        try:
            while chunk := os.read(stream.fileno(), 65536):
                with self._lock:
                    # A runner that reads slowly holds the trial back on its pipe, as a local one does,
                    # instead of the actor holding its output in memory.
                    self._lock.wait_for(lambda: len(self._out[name]) < BUFFER_CAP)
                    self._out[name] += chunk
                    self._lock.notify_all()
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= 1
                self._lock.notify_all()

    def read(self, wait: float) -> dict[str, Any]:
        """What the trial printed since the last read, and its exit code once it ended with its output
        all read (None before); waits up to `wait` seconds for either."""
        with self._lock:
            self._lock.wait_for(lambda: any(self._out.values()) or self._ended(), timeout=wait)
            if not self._ended():  # a trial that prints fast is read in batches, not one call per line
                self._lock.wait_for(self._ended, timeout=LINGER_S)
            got = {name: bytes(buf[:READ_CAP]) for name, buf in self._out.items()}
            for buf in self._out.values():
                del buf[:READ_CAP]
            self._lock.notify_all()  # room in the buffers again
            done = self._ended() and not any(self._out.values())
        code = self._proc.wait() if done and self._proc is not None else None
        return {**got, "exit": code}

    def _ended(self) -> bool:
        return self._proc is not None and self._open == 0

    def signal(self, signum: int) -> bool:
        """Pass a signal to the trial's process group (its own session)."""
        from hpo_flow.adapters.local.process import signal_group

        proc = self._proc
        return proc is not None and proc.returncode is None and signal_group(proc.pid, signum)

    def collect(self) -> bytes | None:
        """After the trial ended: its model as a gzipped tar where this node keeps its own trial folders
        (the runner unpacks it into the sweep's), None where the model is already in the sweep's folder."""
        from hpo_flow.adapters.local.process import kill_leftovers, signal_group

        proc, tdir, workdir = self._proc, self._trial_dir, self._workdir
        if proc is None or tdir is None:
            return None
        signal_group(proc.pid, 9)  # whatever the trial left in its group goes with it, as on the local backend
        kill_leftovers([str(tdir / "model")], grace=0)
        if self.shared:
            return None
        try:
            return pack_model(tdir / "model", workdir)
        finally:
            shutil.rmtree(tdir, ignore_errors=True)

    def hold(self) -> None:
        """Returns only when the slot is closed: the runner waits on it to learn at once that the actor
        died (its node went), even while the slot runs no trial."""
        self._closed.wait()


def pack_model(model_dir: Path, workdir: Path | None) -> bytes | None:
    """The trial's model folder (HPO_MODEL_DIR, or ./outputs/model where a script written for Azure ML
    saved it there) as a gzipped tar, None when it saved nothing."""
    from hpo_flow.adapters.local.trial_io import OUTPUTS_MODEL, count_files

    folder = model_dir
    if not count_files(model_dir) and workdir is not None and count_files(workdir / OUTPUTS_MODEL):
        folder = workdir / OUTPUTS_MODEL
    if not count_files(folder):
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in sorted(folder.iterdir()):
            tar.add(entry, arcname=entry.name)
    return buffer.getvalue()


def unpack_model(archive: bytes, model_dir: Path) -> None:
    """Into the sweep's trial folder, refusing a member that would land outside it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(model_dir, filter="data")
