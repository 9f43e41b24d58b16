"""The team's model: a straight line, y = slope * x + intercept.

Saved as an MLflow pyfunc model without importing MLflow (a trial stays quick): an `MLmodel` file
naming this module as its loader, the line's two numbers, and a copy of this file under `code/`,
which MLflow puts on the path when it loads the model:

    mlflow.pyfunc.load_model("models:/team-line-fit@challenger").predict(pd.DataFrame({"x": [0.5]}))
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

DATA = "line.json"


class LineModel:
    def __init__(self, slope: float, intercept: float) -> None:
        self.slope = slope
        self.intercept = intercept

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> list[float]:
        return [self.slope * float(x) + self.intercept for x in model_input["x"]]

    def save(self, path: Path) -> None:
        """Write the model into `path`, replacing a model saved there before."""
        if path.is_dir():
            shutil.rmtree(path)
        (path / "code").mkdir(parents=True)
        (path / DATA).write_text(json.dumps({"slope": self.slope, "intercept": self.intercept}))
        shutil.copy(__file__, path / "code" / "line_model.py")
        version = ".".join(map(str, sys.version_info[:3]))
        (path / "MLmodel").write_text(
            "flavors:\n  python_function:\n    loader_module: line_model\n    code: code\n"
            f"    data: {DATA}\n    python_version: {version}\n"
        )


def _load_pyfunc(data_path: str) -> LineModel:
    """MLflow's hook for a `loader_module`: the model from its data file."""
    return LineModel(**json.loads(Path(data_path).read_text()))
