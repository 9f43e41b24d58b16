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

DEMO_READY := $(VENV)/.demo-ready
TEST_READY := $(VENV)/.test-ready

# Everything the whole suite needs, exactly as locked: both cloud extras and the dev tools.
$(TEST_READY): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python "$(PYTHON)"
	@touch $@ $(DEMO_READY)

# What the demo needs and no more: hpo-flow with MLflow, Prefect and Optuna; no cloud SDK, no
# test tool (a third of the files to install and compile). --inexact keeps what `make test` added.
$(DEMO_READY): pyproject.toml uv.lock | $(UV)
	@echo "== Setting up $(VENV) for the demo (no cloud SDKs, no test tools; the first time takes a minute or two)"
	@start=$$(date +%s); \
	$(UV) sync --frozen --inexact --no-dev --python "$(PYTHON)" && \
	echo "== Set-up done in $$(( $$(date +%s) - start )) s"
	@touch $@

# `make .venv`: the full environment, as before.
$(VENV): $(TEST_READY)

$(UV):
	@echo "== Installing uv $(UV_VERSION) into .tools"
	"$(PYTHON)" -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

demo: $(DEMO_READY)
	@echo "== Running a local sweep: hpo-flow run config.yaml"
	$(VENV)/bin/hpo-flow run config.yaml

test: $(TEST_READY) lint
	$(VENV)/bin/pytest

lint: $(TEST_READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: $(TEST_READY)
	$(VENV)/bin/pytest -m unit

integration: $(TEST_READY)
	$(VENV)/bin/pytest -m "integration or e2e"

# Hostile configs, mutated configs, kill -9 of runner, CLI and worker, faulty trials, canary secrets:
# prints its figures, exits non-zero on any loss, leak, hang, traceback or orphan (about 10 minutes).
chaos: $(TEST_READY)
	$(VENV)/bin/python -m chaos

bench: $(TEST_READY)
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .hpo mlflow.db mlruns .pytest_cache .ruff_cache
