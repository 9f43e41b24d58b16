"""The SageMaker training toolkit's environment, for a trial that runs anywhere but SageMaker.

Scripts written for SageMaker (amazon-sagemaker-examples and most teams' own) read what the
`sagemaker-training` toolkit sets in the container: `SM_HOSTS`, `SM_CURRENT_HOST`, `SM_NUM_GPUS`,
`SM_CHANNEL_<NAME>`, `SM_MODEL_DIR`, `SM_OUTPUT_DATA_DIR`, `SM_HPS`, `SM_HP_<NAME>`,
`SM_TRAINING_ENV`, ... and fail with a `KeyError` without them. A trial on another backend gets the
same variables, with the values the toolkit would give this trial on one host: its own hyperparameters
and channels, its own model and output folders. On SageMaker the toolkit itself sets them, so the
SageMaker adapter never does (ours would override the real ones).

Names and value formats follow the toolkit (`sagemaker_training.environment.Environment.to_env_vars`):
strings as they are, everything else as JSON; `SM_HP_<NAME>` upper-cased. tests/test_toolkit_env.py
holds this module to the toolkit's own output for the same trial.

It ships with the training code (hpo_flow.adapters.trial_code), so it needs the standard library
alone: `hpo_flow.launch` sets these variables inside an Azure ML trial.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HOST = "algo-1"  # the toolkit's name for the first (here: the only) host of a training job
NETWORK_INTERFACE = "eth0"


def flag(name: str) -> str:
    """How a hyperparameter reaches the script, on every backend: `--name`, and `-C` for a one-letter
    name, because that is what SageMaker's training toolkit passes (sagemaker_training.mapping)."""
    return f"-{name}" if len(name) == 1 else f"--{name}"


def toolkit_environment(
    *,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, str | Path],
    entry_point: str,
    module_dir: str | Path,
    model_dir: str | Path,
    trial_dir: str | Path,
    num_gpus: int,
    num_cpus: int | None = None,
) -> dict[str, str]:
    """What the toolkit would set for one trial on one host: `channels` maps each input's name to
    its path, `module_dir` is the training code's folder, `trial_dir` holds the input and output
    folders the toolkit names (`folders`; the caller creates them)."""
    dirs = folders(trial_dir)
    module_name = entry_point[:-3] if entry_point.endswith(".py") else entry_point
    hosts = [HOST]
    cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
    resource_config = {"current_host": HOST, "hosts": hosts, "network_interface_name": NETWORK_INTERFACE}
    input_data_config = {name: {"TrainingInputMode": "File"} for name in sorted(channels)}
    hps = {name: hyperparameters[name] for name in sorted(hyperparameters)}
    user_args = [arg for name, value in hps.items() for arg in (flag(name), _text(value))]
    training_env: dict[str, Any] = {
        "additional_framework_parameters": {},
        "channel_input_dirs": {name: str(channels[name]) for name in sorted(channels)},
        "current_host": HOST,
        "current_instance_group": "homogeneousCluster",
        "current_instance_group_hosts": [],
        "current_instance_type": "local",
        "distribution_hosts": hosts,
        "distribution_instance_groups": [],
        "framework_module": None,
        "hosts": hosts,
        "hyperparameters": hps,
        "input_config_dir": dirs["input_config"],
        "input_data_config": input_data_config,
        "input_dir": dirs["input"],
        "instance_groups": [],
        "instance_groups_dict": {},
        "is_hetero": False,
        "is_master": True,
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False,
        "is_smddprun_installed": False,
        "job_name": None,
        "log_level": 20,
        "master_hostname": HOST,
        "model_dir": str(model_dir),
        "module_dir": str(module_dir),
        "module_name": module_name,
        "network_interface_name": NETWORK_INTERFACE,
        "num_cpus": cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "output_data_dir": dirs["output_data"],
        "output_dir": dirs["output"],
        "output_intermediate_dir": dirs["output_intermediate"],
        "resource_config": resource_config,
        "topology": [],
        "user_entry_point": entry_point,
    }
    env: dict[str, Any] = {
        "SM_HOSTS": hosts,
        "SM_NETWORK_INTERFACE_NAME": NETWORK_INTERFACE,
        "SM_HPS": hps,
        "SM_USER_ENTRY_POINT": entry_point,
        "SM_FRAMEWORK_PARAMS": {},
        "SM_RESOURCE_CONFIG": resource_config,
        "SM_INPUT_DATA_CONFIG": input_data_config,
        "SM_OUTPUT_DATA_DIR": dirs["output_data"],
        "SM_CHANNELS": sorted(channels),
        "SM_CURRENT_HOST": HOST,
        "SM_CURRENT_INSTANCE_TYPE": "local",
        "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
        "SM_CURRENT_INSTANCE_GROUP_HOSTS": [],
        "SM_INSTANCE_GROUPS": [],
        "SM_INSTANCE_GROUPS_DICT": {},
        "SM_DISTRIBUTION_INSTANCE_GROUPS": [],
        "SM_IS_HETERO": False,
        "SM_MODULE_NAME": module_name,
        "SM_LOG_LEVEL": 20,
        "SM_FRAMEWORK_MODULE": "",
        "SM_INPUT_DIR": dirs["input"],
        "SM_INPUT_CONFIG_DIR": dirs["input_config"],
        "SM_OUTPUT_DIR": dirs["output"],
        "SM_NUM_CPUS": cpus,
        "SM_NUM_GPUS": num_gpus,
        "SM_NUM_NEURONS": 0,
        "SM_MODEL_DIR": str(model_dir),
        "SM_MODULE_DIR": str(module_dir),
        "SM_TRAINING_ENV": training_env,
        "SM_USER_ARGS": user_args,
        "SM_OUTPUT_INTERMEDIATE_DIR": dirs["output_intermediate"],
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
        **{f"SM_HP_{name.upper()}": value for name, value in hps.items()},
    }
    return {key: _text(value) for key, value in env.items()}


def folders(trial_dir: str | Path) -> dict[str, str]:
    """The toolkit's folders, inside the trial's own: what a script may write to (output data) or read."""
    base = Path(trial_dir)
    return {
        "input": str(base / "input"),
        "input_config": str(base / "input" / "config"),
        "output": str(base / "output"),
        "output_data": str(base / "output" / "data"),
        "output_intermediate": str(base / "output" / "intermediate"),
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
