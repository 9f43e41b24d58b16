"""The training code a sweep ships: which files of `training.source_dir` go, and their digest.

One rule for every backend: SageMaker's code archive leaves out exactly `CODE_IGNORE`, and a
sweep's identity (`hpo_flow.adapters.lifecycle`) hashes exactly the files that archive would hold, so an
edited training script names a new sweep and a new `__pycache__` does not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

# What never belongs in the uploaded code: VCS data, caches, virtualenvs, hpo-flow's own local state.
CODE_IGNORE = [
    ".env",
    ".git",
    "__pycache__",
    ".DS_Store",
    ".cache",
    ".ipynb_checkpoints",
    ".venv",
    "venv",
    ".hpo",
    "mlruns",
    "mlflow.db",
    ".pytest_cache",
    ".ruff_cache",
    ".prefect",
    # What runs beside the code write as they go: logs, and write-back's own files (config.yaml.bak,
    # .lock, an interrupted temp). Hashed, each would make the next run of the same code a new sweep:
    # a crashed run's successor would pay for a second one instead of attaching.
    "*.log",
    "*.bak",
    "*.lock",
    "*.hpo-tmp",
]


def ignored(name: str) -> bool:
    """Whether a file or directory of this name stays out of the shipped code."""
    return any(fnmatch(name, pattern) for pattern in CODE_IGNORE)


def shipped_files(source_dir: Path) -> Iterator[Path]:
    """Every file the code archive holds, in a stable order (sorted, depth first)."""
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = sorted(d for d in dirs if not ignored(d))
        for name in sorted(files):
            if not ignored(name):
                yield Path(root) / name


def code_digest(source_dir: str | Path, leave_out: list[str | Path] | None = None) -> str:
    """Hash of the shipped files' relative paths and contents; `leave_out` names files that are not
    code even when they sit in the directory (the config itself: its meaning is hashed on its own,
    so an edited comment or a written-back value does not make new code)."""
    root = Path(source_dir).resolve()
    skip = {Path(p).resolve() for p in leave_out or []}
    digest = hashlib.sha256()
    if not root.is_dir():
        return "no-code"  # plan/submit say what is missing; the identity just stays stable
    for path in shipped_files(root):
        if path.resolve() in skip or not path.is_file():
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]
