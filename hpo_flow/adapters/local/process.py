"""Trial processes: the argument list, the environment, launching in an own process group, stopping,
and finding what a dead runner left behind.

A trial is always an argument list, never a shell string. It runs in its own session (so one
signal to its group reaches every process it started) and, on Linux, dies with the runner's
thread that started it (PR_SET_PDEATHSIG), so a `kill -9` of the runner does not leave the
trial training on; whatever the trial itself started is found again by its HPO_MODEL_DIR.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.spec import HpoConfig, flag, input_env_vars
from hpo_flow.adapters.spec.arguments import INPUTS, SEARCH_SPACE, render
from hpo_flow.report import MODEL_DIR_VAR, SAGEMAKER_MODEL_DIR_VAR, TRIAL_ID_VAR
from hpo_flow.toolkit_env import toolkit_environment

_HAS_PROC = Path("/proc/self/stat").exists()


def format_value(value: Any) -> str:
    """How a hyperparameter value is written on the command line: str(value), as SageMaker does
    (floats in their shortest exact form, so 0.001 stays 0.001 and 32.0 stays a float)."""
    return str(value)


def trial_command(spec: HpoConfig, params: Mapping[str, Any], python: str | None = None) -> list[str]:
    """`[python, entry_point, --name, value, ...]`: fixed hyperparameters first, then the sampled ones,
    then the inputs' paths where training.input_flags asks for them; one-letter names as `-C`. Or, where
    the config writes `training.arguments`, that template with the trial's values in it."""
    interpreter = python or spec.training.python or sys.executable
    argv = [interpreter, spec.training.entry_point]
    if spec.training.arguments is not None:  # the command line the user wrote, Azure ML's way
        values = {(SEARCH_SPACE, k): format_value(v) for k, v in params.items()}
        values.update({(INPUTS, k): format_value(v) for k, v in spec.fixed_hyperparameters().items()})
        values.update({(INPUTS, k): v for k, v in input_paths(spec).items()})
        return argv + render(spec.training.arguments, values)
    merged: dict[str, Any] = dict(spec.fixed_hyperparameters())
    merged.update(params)
    if spec.training.input_flags:
        merged.update(input_paths(spec))
    for name, value in merged.items():
        argv += [flag(name), format_value(value)]
    return argv


def input_paths(spec: HpoConfig) -> dict[str, str]:
    """training.inputs on this machine: absolute paths, relative ones read from where hpo-flow runs."""
    return {name: str(Path(i.local).resolve()) for name, i in spec.training.inputs.items() if i.local is not None}


def input_problems(spec: HpoConfig) -> list[Problem]:
    """Every input reaches a local trial too, or the sweep is refused: a script that silently trains
    on its fallback data is the failure this prevents."""
    found = []
    for name, data in spec.training.inputs.items():
        path = f"training.inputs.{name}.local"
        if data.local is None:
            found.append(Problem(path, None, "the local backend needs this input too; give its file or folder here"))
        elif not Path(data.local).exists():
            found.append(
                Problem(
                    path,
                    data.local,
                    "no such file or folder (relative paths are read from where "
                    "hpo-flow runs); fix the path or create it",
                )
            )
    return found


def trial_environment(
    spec: HpoConfig,
    trial_id: str,
    model_dir: Path,
    cuda_visible_devices: str,
    base: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The whole environment a trial is launched with: the runner's own, then `trial_variables`."""
    inherited = dict(os.environ if base is None else base)
    return {**inherited, **trial_variables(spec, trial_id, model_dir, cuda_visible_devices, inherited, params)}


def trial_variables(
    spec: HpoConfig,
    trial_id: str,
    model_dir: Path,
    cuda_visible_devices: str,
    inherited: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """What hpo-flow sets on top of the inherited environment; `plan` shows exactly this.

    First what the SageMaker training toolkit would set for this trial (a script written for
    SageMaker reads SM_HOSTS, SM_HPS, SM_OUTPUT_DATA_DIR, ...), then `training.environment`, then
    hpo-flow's own variables."""
    hyperparameters = {**spec.fixed_hyperparameters(), **(params or {})}
    env = toolkit_environment(
        hyperparameters=hyperparameters,
        channels=input_paths(spec),
        entry_point=spec.training.entry_point,
        module_dir=Path(spec.training.source_dir).resolve(),
        model_dir=model_dir,
        trial_dir=model_dir.parent,
        num_gpus=len([d for d in cuda_visible_devices.split(",") if d.strip()]),
    )
    env.update(spec.training.environment)
    for name, path in input_paths(spec).items():
        env.update(input_env_vars(name, path))
    if spec.training.python:
        # another interpreter need not have hpo-flow: the trial helper still imports
        from hpo_flow.adapters.trial_code import helper_dir

        search_path = env.get("PYTHONPATH", inherited.get("PYTHONPATH"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (search_path, str(helper_dir())) if p)
    env.update(
        {
            TRIAL_ID_VAR: trial_id,
            MODEL_DIR_VAR: str(model_dir),
            SAGEMAKER_MODEL_DIR_VAR: str(model_dir),
            "CUDA_VISIBLE_DEVICES": cuda_visible_devices,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --------------------------------------------------------------------------- launching

_PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    # Loaded once here: the child runs between fork and exec, where loading a library is unsafe.
    try:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - a libc-less Linux
        _libc = None
_setpriv: list[str] | None = None


def _death_signal_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL --` when util-linux has it (2.33+), else [].

    Setting the death signal in a preexec_fn forces Python to fork() the whole runner instead of
    vfork()ing it: measured here, 20-25 ms per trial against 1-5 ms through setpriv, which sets
    it and then execs the trial.
    """
    global _setpriv
    if _setpriv is None:
        _setpriv = []
        found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        if found:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                helptext = subprocess.run([found, "--help"], capture_output=True, text=True, timeout=10).stdout
                if "--pdeathsig" in helptext:
                    _setpriv = [found, "--pdeathsig", "KILL", "--"]
    return _setpriv


def _die_with_parent(parent_pid: int) -> Any:
    def set_pdeathsig() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the runner died between fork and prctl
            os._exit(1)

    return set_pdeathsig


class TrialProcess(subprocess.Popen[bytes]):
    """A trial's process on this machine, as the sweep loop handles every trial's (a Ray trial's too,
    hpo_flow.adapters.ray.cluster.RayTrialProcess): signalled as a group, never lost."""

    lost: str | None = None  # a trial on a node that died is lost; one here dies with the runner

    def signal_group(self, sig: int) -> bool:
        return signal_group(self.pid, sig)

    def exited(self) -> bool:
        return has_exited(self)

    def where(self) -> dict[str, Any]:
        return {"pid": self.pid, "pgid": self.pid}  # start_new_session: the trial leads its own group


def launch(argv: list[str], cwd: str | Path, env: Mapping[str, str]) -> TrialProcess:
    """Start a trial in its own session, its stdout and stderr on two non-blocking pipes, set to be
    killed when the thread that started it (the runner's only one) dies."""
    prefix = _death_signal_prefix()
    preexec = _die_with_parent(os.getpid()) if not prefix and _libc is not None else None
    proc = TrialProcess(
        prefix + argv,
        cwd=str(cwd),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec,  # safe: the runner starts trials from its one thread
        bufsize=0,
    )
    assert proc.stdout is not None and proc.stderr is not None
    os.set_blocking(proc.stdout.fileno(), False)
    os.set_blocking(proc.stderr.fileno(), False)
    return proc


def signal_group(pgid: int, sig: int) -> bool:
    """Send a signal to a process group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True when the process has exited, without reaping it: its group id cannot be reused meanwhile."""
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return proc.poll() is not None
        return info is not None
    return proc.poll() is not None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


# --------------------------------------------------------------------------- other processes


def process_alive(pid: int) -> bool:
    """A live, non-zombie process with this pid."""
    if pid <= 0:
        return False
    if _HAS_PROC:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return text[text.rfind(")") + 2 :].split(" ", 1)[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _ps_cmdline(pid)
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _ps_cmdline(pid: int) -> list[str]:
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return []
    return out.stdout.split()


def processes_with_env(key: str, prefixes: Iterable[str]) -> list[int]:
    """Pids of live processes whose environment sets `key` to a value under one of `prefixes`.

    Trial processes, and everything they started, carry HPO_MODEL_DIR; that finds them even when
    they left their process group. Linux only (reads /proc); elsewhere returns [].
    """
    wanted = [p.encode() for p in prefixes]
    if not wanted or not _HAS_PROC:
        return []
    marker = key.encode() + b"="
    me = os.getpid()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(marker) and any(item[len(marker) :].startswith(p) for p in wanted):
                if process_alive(int(entry.name)):
                    found.append(int(entry.name))
                break
    return found


def kill_leftovers(model_dirs: Iterable[str], pgids: Iterable[int] = (), grace: float = 0.0) -> list[int]:
    """Stop every process of the given trials: by environment (Linux) and by recorded process group.

    SIGTERM first when `grace` > 0, SIGKILL for whatever is still alive after it. Returns the pids
    found by environment (empty where /proc is not available).
    """
    dirs = [str(d) for d in model_dirs]
    groups = [g for g in pgids if g and g > 1]
    pids = processes_with_env(MODEL_DIR_VAR, dirs)
    if _HAS_PROC:
        # Only groups whose members still carry a trial's model dir: a recorded pgid may have been reused.
        groups = [g for g in groups if any(_pgid_of(p) == g for p in pids)]
    sigs = [signal.SIGTERM, signal.SIGKILL] if grace > 0 else [signal.SIGKILL]
    for sig in sigs:
        for pgid in groups:
            signal_group(pgid, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM:
            wait_gone(pids, grace)
    return pids


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    pending = list(pids)
    end = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if process_alive(p)]
        if not pending:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


def _pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
