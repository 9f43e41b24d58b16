"""The in-memory backend's adapter: the test suite's fake service behind the port, its settings
read from `backends.inmemory`. The registry makes a new adapter for every use, so the service's
sweeps live in the module, as a real service's live on its side."""

from __future__ import annotations

import threading
from pathlib import Path

from hpo_flow.adapters.port import SweepRef, SweepState, Trial
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow_inmemory.backend import BACKEND, InMemorySection
from tests.fakes import FakeAdapter, _Sweep
from tests.flow.trial_script import save_model

_SWEEPS: dict[str, _Sweep] = {}
_LOCK = threading.Lock()


class InMemoryAdapter(FakeAdapter):
    backend = BACKEND.name

    def __init__(self) -> None:
        super().__init__()
        self.sweeps = _SWEEPS
        self._lock = _LOCK  # type: ignore[assignment]

    def submit(self, spec: HpoConfig) -> SweepRef:
        self._configure(spec)
        return super().submit(spec)

    def poll(self, ref: SweepRef) -> SweepState:
        sweep = self.sweeps.get(ref.name)
        if sweep is not None:
            self._configure(sweep.spec)
        return super().poll(ref)

    def _configure(self, spec: HpoConfig) -> None:
        section = spec.backends.section(BACKEND.name)
        settings = section if isinstance(section, InMemorySection) else InMemorySection()
        self.per_poll = settings.per_poll
        self.model_dir = Path(settings.model_dir) if settings.model_dir else None

    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        trial = super()._trial(sweep, index)
        if trial.model_uri and trial.objective is not None:
            save_model(Path(trial.model_uri), trial.objective)  # a real MLflow model, for the flow to register
        return trial
