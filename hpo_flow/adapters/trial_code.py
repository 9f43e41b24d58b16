"""What every backend ships with a trial's code: the trial helper `hpo_flow.report`.

A training script may `from hpo_flow.report import report, model_dir, input_path` in any container,
with nothing installed: the SageMaker adapter puts the helper into sourcedir.tar.gz, the Azure ML
adapter into the code snapshot it uploads, and the local runner puts it on PYTHONPATH when trials
run under another interpreter. A source directory that has its own `hpo_flow/` keeps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from pathlib import Path

import hpo_flow

PACKAGE = "hpo_flow"
# The helper needs only the standard library; nothing else ships. `launch` starts a script with the
# SageMaker toolkit's environment where the backend does not set it (Azure ML).
_FILES = ("report.py", "toolkit_env.py", "launch.py")

# Written in place of hpo_flow/__init__.py, whose lazy names (the flow, the tasks) would point at
# modules that are not shipped, and whose imports a bare container need not run.
_SHIPPED_INIT = f'''"""hpo-flow's trial helper, shipped with the training code: `from hpo_flow.report import report`.

Only the trial's side is here (hpo_flow.report, and hpo_flow.launch with the SageMaker toolkit's
environment it sets), and it needs nothing but the standard library.
"""

__version__ = "{hpo_flow.__version__}"
'''


def helper_files() -> dict[str, bytes]:
    """Archive name -> content of every file that ships."""
    root = Path(hpo_flow.__file__).parent
    files = {f"{PACKAGE}/__init__.py": _SHIPPED_INIT.encode()}
    files.update({f"{PACKAGE}/{name}": (root / name).read_bytes() for name in _FILES})
    return files


def add_helper(code_dir: Path) -> list[str]:
    """Write the helper into `code_dir` unless it has an `hpo_flow/` of its own; the names written."""
    if (code_dir / PACKAGE).exists():
        return []
    written = []
    for name, content in helper_files().items():
        target = code_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(name)
    return written


def helper_dir() -> Path:
    """A directory holding only the helper package, for PYTHONPATH; one per helper version."""
    files = helper_files()
    digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"hpo-flow-trial-helper-{digest}"
    if not all((root / name).is_file() for name in files):
        staging = Path(tempfile.mkdtemp(prefix="hpo-flow-trial-helper-", dir=root.parent))
        add_helper(staging)
        # atomic: a concurrent trial sees all of it or none; OSError: another process made it first
        with contextlib.suppress(OSError):
            staging.rename(root)
        shutil.rmtree(staging, ignore_errors=True)  # left only when another process won
    return root
