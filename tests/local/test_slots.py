"""Slots and GPU assignment, proven with GPU lists passed in: no GPU needed."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo_flow.adapters.local.slots import Slot, SlotAllocator, detect_gpus, make_slots, resolve_gpus, slots_for
from hpo_flow.adapters.spec import LocalBackend

pytestmark = pytest.mark.unit


def test_one_trial_per_gpu_by_default() -> None:
    slots = make_slots([0, 1, 2, 3], gpus_per_trial=1, trials_per_gpu=1, max_parallel=8)
    assert [s.gpus for s in slots] == [(0,), (1,), (2,), (3,)]
    assert [s.cuda_visible_devices for s in slots] == ["0", "1", "2", "3"]


def test_several_gpus_per_trial_leave_a_remainder_idle() -> None:
    slots = make_slots([0, 1, 2, 3, 4], gpus_per_trial=2, trials_per_gpu=1, max_parallel=8)
    assert [s.cuda_visible_devices for s in slots] == ["0,1", "2,3"]
    assert [s.label for s in slots] == ["gpu:0,1", "gpu:2,3"]


def test_shared_gpus_spread_over_every_gpu_before_doubling_up() -> None:
    slots = make_slots([0, 1], gpus_per_trial=1, trials_per_gpu=3, max_parallel=8)
    assert [s.cuda_visible_devices for s in slots] == ["0", "1", "0", "1", "0", "1"]
    two = make_slots([0, 1], gpus_per_trial=1, trials_per_gpu=3, max_parallel=2)
    assert [s.cuda_visible_devices for s in two] == ["0", "1"]


def test_parallelism_is_the_smaller_of_max_parallel_jobs_and_slots() -> None:
    assert len(make_slots([3, 7], 1, 1, max_parallel=1)) == 1
    assert len(make_slots([3, 7], 1, 1, max_parallel=5)) == 2


def test_no_gpu_gives_max_parallel_cpu_slots_that_hide_every_gpu() -> None:
    slots = make_slots([], gpus_per_trial=1, trials_per_gpu=1, max_parallel=3)
    assert [s.label for s in slots] == ["cpu", "cpu", "cpu"]
    assert {s.cuda_visible_devices for s in slots} == {""}


def test_config_gpu_settings() -> None:
    def no_nvidia_smi() -> list[int]:
        raise AssertionError("a GPU list in the config must not run nvidia-smi")

    assert resolve_gpus([2, 5], no_nvidia_smi) == [2, 5]
    assert resolve_gpus([], no_nvidia_smi) == [] and resolve_gpus(None, no_nvidia_smi) == []
    assert resolve_gpus("auto", lambda: [0, 1]) == [0, 1]
    local = LocalBackend(gpus=[4, 5, 6, 7], gpus_per_trial=2)
    assert [s.label for s in slots_for(local, 4, no_nvidia_smi)] == ["gpu:4,5", "gpu:6,7"]


def test_detect_gpus_reads_nvidia_smi_and_treats_any_error_as_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hpo_flow.adapters.local.slots.shutil.which", lambda name: "/usr/bin/nvidia-smi")

    def fake(output: str, code: int = 0):
        def run(argv, **kwargs):
            assert argv == ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"]
            return subprocess.CompletedProcess(argv, code, stdout=output, stderr="")

        return run

    assert detect_gpus(fake("0\n1\n\n3\n")) == [0, 1, 3]
    assert detect_gpus(fake("", code=9)) == []

    def boom(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, 20)

    assert detect_gpus(boom) == []
    monkeypatch.setattr("hpo_flow.adapters.local.slots.shutil.which", lambda name: None)
    assert detect_gpus(fake("0\n")) == []


def test_the_allocator_refuses_a_slot_it_did_not_give_out() -> None:
    allocator = SlotAllocator([Slot(0, (0,)), Slot(1, (1,))])
    slot = allocator.acquire()
    assert slot == Slot(0, (0,))
    with pytest.raises(ValueError):
        allocator.release(Slot(1, (1,)))  # free already
    allocator.release(slot)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        allocator.release(slot)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    gpus=st.lists(st.integers(0, 15), unique=True, max_size=8),
    per_trial=st.integers(1, 3),
    per_gpu=st.integers(1, 3),
    parallel=st.integers(1, 10),
    ops=st.lists(st.booleans(), max_size=60),
)
def test_no_slot_and_no_gpu_share_is_ever_given_to_two_trials(
    gpus: list[int], per_trial: int, per_gpu: int, parallel: int, ops: list[bool]
) -> None:
    if gpus and per_trial > len(gpus):
        return
    if per_trial > 1 and per_gpu > 1:
        return  # the config model refuses this combination
    slots = make_slots(gpus, per_trial, per_gpu, parallel)
    allocator = SlotAllocator(slots)
    held: list[Slot] = []
    for take in ops:
        if take:
            slot = allocator.acquire()
            if slot is None:
                assert len(held) == len(slots)
                continue
            assert slot not in held
            held.append(slot)
        elif held:
            allocator.release(held.pop(0))
        # no GPU carries more trials at once than trials_per_gpu allows
        load: dict[int, int] = {}
        for slot in held:
            for gpu in slot.gpus:
                load[gpu] = load.get(gpu, 0) + 1
        assert all(n <= per_gpu for n in load.values())
        assert allocator.busy == len(held)
