"""Where local trials run: GPU discovery, slots, and an allocator that never gives one slot to two trials.

A slot is what one trial gets: `gpus_per_trial` whole GPUs, or a share of one GPU when
`trials_per_gpu` > 1, or a CPU slot when the machine has no GPU. The GPU list is an argument
everywhere, so the assignment is testable on a machine without GPUs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.spec import HpoConfig, LocalBackend

MAX_LOCAL_SLOTS = 256  # trials at once on one machine: each is a process with two pipes


@dataclass(frozen=True)
class Slot:
    index: int
    gpus: tuple[int, ...] = ()  # empty: a CPU slot
    name: str = ""  # a placement's own label for the slot (a Ray node's address), instead of cpu/gpu
    node: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # where a placement put it

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return "cpu" if not self.gpus else "gpu:" + ",".join(str(g) for g in self.gpus)

    @property
    def cuda_visible_devices(self) -> str:
        # An empty string hides every GPU, so a CPU-slot trial cannot grab one by accident.
        return ",".join(str(g) for g in self.gpus)


def detect_gpus(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> list[int]:
    """GPU indices nvidia-smi lists; no nvidia-smi, an error or a timeout means no GPU."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    found: list[int] = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.isdigit():
            found.append(int(line))
    return found


def resolve_gpus(setting: str | Sequence[int] | None, detect: Callable[[], list[int]] = detect_gpus) -> list[int]:
    """The GPUs a config means: `auto` asks nvidia-smi; a list is taken as written; null or [] means none."""
    if setting == "auto":
        return detect()
    if not setting:
        return []
    return [int(g) for g in setting]


def make_slots(gpus: Sequence[int], gpus_per_trial: int, trials_per_gpu: int, max_parallel: int) -> list[Slot]:
    """The slots a sweep runs on, at most `max_parallel` of them.

    GPUs are grouped `gpus_per_trial` at a time (a remainder too small for a trial is left idle).
    With `trials_per_gpu` > 1 each GPU yields that many slots, ordered round-robin across GPUs so
    that a sweep with fewer parallel trials than slots spreads over every GPU before sharing one.
    Without GPUs there are `max_parallel` CPU slots.
    """
    if gpus_per_trial < 1 or trials_per_gpu < 1 or max_parallel < 1:
        raise ValueError("gpus_per_trial, trials_per_gpu and max_parallel must be >= 1")
    if not gpus:
        return [Slot(i) for i in range(max_parallel)]
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"GPU list has duplicates: {list(gpus)}")
    groups = [tuple(gpus[i : i + gpus_per_trial]) for i in range(0, len(gpus) - gpus_per_trial + 1, gpus_per_trial)]
    ordered = [group for _ in range(trials_per_gpu) for group in groups]
    return [Slot(i, group) for i, group in enumerate(ordered[:max_parallel])]


def slots_for(local: LocalBackend, max_parallel: int, detect: Callable[[], list[int]] = detect_gpus) -> list[Slot]:
    gpus = resolve_gpus(local.gpus, detect)
    return make_slots(gpus, local.gpus_per_trial, local.trials_per_gpu, min(max_parallel, MAX_LOCAL_SLOTS))


def slot_problems(spec: HpoConfig) -> list[Problem]:
    """What the local runner cannot do: more trials at once than one machine's processes can be."""
    wanted = spec.tuning.max_parallel_jobs
    if wanted <= MAX_LOCAL_SLOTS:
        return []
    return [
        Problem(
            "tuning.max_parallel_jobs",
            wanted,
            f"the local runner runs at most {MAX_LOCAL_SLOTS} trials at once on one machine; set {MAX_LOCAL_SLOTS} "
            "or less, and add machines with `hpo-flow worker` to run more",
        )
    ]


class SlotAllocator:
    """Hands out free slots, lowest index first; a slot given out is unavailable until released.

    A placement that finds slots as it goes (Ray placing them) adds them, and retires a slot that is
    gone (its node died): a retired slot is never handed out again, even once its trial is released."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        if not slots:
            raise ValueError("no slots to run trials on")
        self._slots = {slot.index: slot for slot in slots}
        self._free = set(self._slots)
        self._retired: set[int] = set()

    @property
    def size(self) -> int:
        return len(self._slots)

    @property
    def free(self) -> int:
        return len(self._free)

    @property
    def busy(self) -> int:
        return len(self._slots) - len(self._free)

    def acquire(self) -> Slot | None:
        if not self._free:
            return None
        index = min(self._free)
        self._free.remove(index)
        return self._slots[index]

    def release(self, slot: Slot) -> None:
        if slot.index in self._retired:
            return
        if slot.index in self._free or self._slots.get(slot.index) != slot:
            raise ValueError(f"slot {slot.index} ({slot.label}) was not given out by this allocator")
        self._free.add(slot.index)

    def add(self, slot: Slot) -> None:
        if slot.index in self._slots or slot.index in self._retired:
            raise ValueError(f"slot {slot.index} ({slot.label}) is already known")
        self._slots[slot.index] = slot
        self._free.add(slot.index)

    def retire(self, slot: Slot) -> None:
        if self._slots.pop(slot.index, None) is not None:
            self._free.discard(slot.index)
            self._retired.add(slot.index)

    @property
    def labels(self) -> list[str]:
        return [slot.label for slot in self._slots.values()]
