"""hpo-flow: hyperparameter sweeps from one config.yaml, on SageMaker, Azure ML or local GPUs."""

__version__ = "0.1.0"
