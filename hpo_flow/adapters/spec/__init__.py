"""The config.yaml model: the one spec every adapter receives.

Loading is strict and reports every problem at once (`parse_config`, `load_config`). Ranges written
in SageMaker's, Azure's or OpenVINO's vocabulary all become one `ParamRange` whose bounds are in the
parameter's own units; adapters convert from there.

    base       the strict base model and the helpers validators share
    training   what one trial runs and how its metrics are read
    ranges     hyperparameter ranges in every vocabulary, one representation
    tuning     strategy, objective, limits, early stopping, warm start
    backends   backends.<name>: one section per installed backend (its own model), and mlflow
    lineage    which sweep of a config a spec is (code digest, generation, warm start); set by hpo-flow
    config     HpoConfig: the whole file, cross-section checks, sweep name and hash
    loading    YAML in, overrides, every problem collected
    messages   pydantic errors as one-line problems with the fix
"""

from hpo_flow.adapters.spec.backends import (
    AzureBackend,
    AzureEnvironment,
    Backends,
    LocalBackend,
    MlflowSettings,
    SageMakerBackend,
)
from hpo_flow.adapters.spec.base import Scalar, ScalarValue, Strict, SubProblems
from hpo_flow.adapters.spec.config import HpoConfig, cross_problems
from hpo_flow.adapters.spec.lineage import Lineage
from hpo_flow.adapters.spec.loading import apply_overrides, load_config, load_yaml, parse_config, read_yaml
from hpo_flow.adapters.spec.messages import translate_errors
from hpo_flow.adapters.spec.ranges import RANGE_TYPE_NAMES, ParamRange, RangeType, Scaling
from hpo_flow.adapters.spec.training import DataInput, MetricDefinition, Training, flag, input_env_vars
from hpo_flow.adapters.spec.tuning import (
    CompletionCriteria,
    EarlyStopping,
    EarlyStoppingPolicy,
    Hyperband,
    Objective,
    Strategy,
    Tuning,
    WarmStart,
)

__all__ = [
    "RANGE_TYPE_NAMES",
    "AzureBackend",
    "AzureEnvironment",
    "Backends",
    "CompletionCriteria",
    "DataInput",
    "EarlyStopping",
    "EarlyStoppingPolicy",
    "HpoConfig",
    "Hyperband",
    "Lineage",
    "LocalBackend",
    "MetricDefinition",
    "MlflowSettings",
    "Objective",
    "ParamRange",
    "RangeType",
    "SageMakerBackend",
    "Scalar",
    "ScalarValue",
    "Scaling",
    "Strategy",
    "Strict",
    "SubProblems",
    "Training",
    "Tuning",
    "WarmStart",
    "apply_overrides",
    "cross_problems",
    "flag",
    "input_env_vars",
    "load_config",
    "load_yaml",
    "parse_config",
    "read_yaml",
    "translate_errors",
]
