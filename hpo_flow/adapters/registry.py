"""The backend registry: which backends are installed, and what each one brings.

A backend is one folder plus an entry point in the `hpo_flow.backends` group whose value is a
`BackendInfo`. hpo-flow's own three are registered that way too (pyproject.toml), so a backend
from another distribution is found exactly like them: the config's `tuning.backend` choices, its
`backends.<name>` sections, the data inputs' `<name>` places, `--backend`, the sweep-name limits
and the "install the extra" hint all come from here. docs/new-backend.md walks through adding one.

Loading an entry point imports only the module that holds its `BackendInfo`, which must stay light
(no SDK): the adapter and the section model are named as "module:attribute" and imported when
they are needed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import HpoFlowError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hpo_flow.adapters.port import SweepAdapter
    from hpo_flow.adapters.spec import HpoConfig

ENTRY_POINT_GROUP = "hpo_flow.backends"


@dataclass(frozen=True)
class BackendInfo:
    """What a backend declares about itself."""

    name: str  # `tuning.backend: <name>`, `backends.<name>`, `--backend <name>`
    adapter: str | Callable[[], SweepAdapter]  # "module:factory", imported only when the backend is used
    section: str | type[BaseModel]  # "module:Model" of `backends.<name>`; SDK-free, imported to validate
    data_input: str  # what `training.inputs.<input>.<name>` holds on this backend, in a few words
    max_name_length: int = 63  # the longest sweep name the service accepts
    extra: str | None = None  # what to pip install for its SDK, e.g. "hpo-flow[sagemaker]"
    section_by_default: bool = False  # `backends.<name>` holds the section's defaults when not written
    warm_start: bool = True  # its sweeps can start from the earlier generations' best values
    # Whether its adapter opens MLflow URIs of its own (a workspace's), for which MLflow's cloud
    # plugins must stay loaded; a backend that opens none lets a run skip their SDK imports.
    needs_mlflow_plugins: bool = True
    summary: str = ""  # one line for `--help` and docs
    # A backend whose sweeps the local runner drives, its trials placed elsewhere (Ray): the
    # "module:factory" of its placement (hpo_flow.adapters.local.hosts), called (spec, paths, cwd).
    trial_placement: str | Callable[..., Any] | None = None

    def sweep_name(self, spec: HpoConfig) -> str:
        """The sweep's name on this backend: the config's name rule within the service's limit."""
        return spec.sweep_name(self.max_name_length)

    def section_model(self) -> type[BaseModel]:
        found = _resolve(self.section, self)
        return found  # type: ignore[no-any-return]

    def create_placement(self, *args: Any) -> Any:
        return _resolve(self.trial_placement, self)(*args)

    def create_adapter(self) -> SweepAdapter:
        factory = _resolve(self.adapter, self)
        return factory()  # type: ignore[no-any-return]


# Registered in this process only (a notebook, a test): they win over installed ones of the same name.
_ADDED: dict[str, BackendInfo] = {}


@cache
def _installed() -> dict[str, BackendInfo]:
    found: dict[str, BackendInfo] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = point.load()
        except Exception as exc:  # a broken plugin must not take the other backends down with it
            raise HpoFlowError(
                f"the backend entry point {point.name!r} ({point.value}) does not load: {exc}; "
                "reinstall the distribution that provides it, or uninstall it"
            ) from None
        if not isinstance(info, BackendInfo) or info.name != point.name:
            raise HpoFlowError(
                f"the backend entry point {point.name!r} ({point.value}) is not a BackendInfo named "
                f"{point.name!r}; fix the distribution that provides it"
            )
        if point.name in found and found[point.name] != info:
            raise HpoFlowError(f"two installed distributions register the backend {point.name!r}; uninstall one")
        found[point.name] = info
    if not found:
        raise HpoFlowError(
            f"no backend is registered (entry point group {ENTRY_POINT_GROUP!r}): "
            "hpo-flow is not installed in this environment; install it (pip install hpo-flow, or pip install -e .)"
        )
    return found


def backends() -> dict[str, BackendInfo]:
    """Every backend this environment has, by name."""
    found = {**_installed(), **_ADDED}
    return {name: found[name] for name in sorted(found)}


def names() -> list[str]:
    return list(backends())


def get(name: str) -> BackendInfo:
    """The backend called `name`; an error naming the installed ones (and the closest) otherwise."""
    known = backends()
    if name in known:
        return known[name]
    raise HpoFlowError(f"unknown backend {name!r}; {choices_hint(name)}")


def choices_hint(name: str) -> str:
    """`did you mean ...?` and the installed backends, for a message about an unknown name."""
    known = names()
    close = difflib.get_close_matches(name, known, n=1)
    mean = f"did you mean {close[0]!r}? " if close else ""
    return f"{mean}installed backends: {', '.join(known)}"


def get_adapter(name: str) -> SweepAdapter:
    """A new adapter for the backend called `name`."""
    return get(name).create_adapter()


def refresh() -> None:
    """Look for installed backends again (after a distribution was installed into this process's path)."""
    _installed.cache_clear()


@contextmanager
def registered(info: BackendInfo) -> Iterator[BackendInfo]:
    """`info` is a backend of this process while the block runs (tests, notebooks)."""
    before = _ADDED.get(info.name)
    _ADDED[info.name] = info
    try:
        yield info
    finally:
        if before is None:
            _ADDED.pop(info.name, None)
        else:
            _ADDED[info.name] = before


def _resolve(target: Any, info: BackendInfo) -> Any:
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        ours = exc.name and (exc.name == module_name or f"{module_name}.".startswith(f"{exc.name}."))
        if ours or (exc.name or "").startswith(f"{module_name}."):
            raise HpoFlowError(f"the {info.name} backend's module {module_name!r} is missing; reinstall it") from None
        hint = f"; install it with: pip install '{info.extra}'" if info.extra else ""
        raise HpoFlowError(f"the {info.name} backend needs the package {exc.name!r}{hint}") from None
    return getattr(module, attribute)
