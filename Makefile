# Two commands: `make demo` and `make test`. Both set themselves up from uv.lock first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/bin/uv
export UV_LINK_MODE := copy
# These machines set PYTHONDONTWRITEBYTECODE, so nothing is ever cached as bytecode and every
# process recompiles mlflow/prefect/sagemaker on import (10-30 s each): compile once at install.
export UV_COMPILE_BYTECODE := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint unit integration bench chaos clean

# The environment, exactly as locked; does nothing when it is up to date.
$(VENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python "$(PYTHON)"
	@touch $(VENV)

$(UV):
	"$(PYTHON)" -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

demo: $(VENV)
	$(VENV)/bin/hpo-flow run config.yaml

test: $(VENV) lint
	$(VENV)/bin/pytest

lint: $(VENV)
	$(VENV)/bin/ruff check .

unit: $(VENV)
	$(VENV)/bin/pytest -m unit

integration: $(VENV)
	$(VENV)/bin/pytest -m "integration or e2e"

# Hostile configs, mutated configs, kill -9 of runner, CLI and worker, faulty trials, canary secrets:
# prints its figures, exits non-zero on any loss, leak, hang, traceback or orphan (about 10 minutes).
chaos: $(VENV)
	$(VENV)/bin/python -m chaos

bench: $(VENV)
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .hpo mlflow.db mlruns .pytest_cache .ruff_cache
