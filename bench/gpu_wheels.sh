#!/bin/sh
# The wheels bench/gpu_packing.py needs on the lent GPU machine beyond what that machine has
# (Python 3.12 with PyTorch, numpy, filelock, PyYAML, tqdm; no network there): the local runner's
# pydantic (with the typing-extensions it needs) and Optuna, at uv.lock's versions. Here, from the repository's root:
#
#     sh bench/gpu_wheels.sh            # fills .whl/ (ignored by git; about 4 MB)
#
# Then one device run, carrying .whl (the device tool's `carry: [".whl"]`), with the command:
#
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 && \
#       nvidia-smi && python3 bench/gpu_packing.py --packing 1 4 8 --trials 8 --seconds 10 --rounds 2
#
# (about 5 minutes: 8 trials one at a time take most of it; record the figures in docs/local.md).
set -eu
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl \
  pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
  optuna==5.0.0 colorlog==6.12.0 typing-extensions==4.16.0
ls -la .whl
