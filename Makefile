# Two commands on a fresh machine with Python 3.11, pip and make:
#   make demo   creates .venv, installs Shoal, builds the demo world on the embedded store
#   make test   installs the dev extras, runs ruff and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export RAY_USAGE_STATS_ENABLED := 0
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export OTEL_SDK_DISABLED := true
export AWS_EC2_METADATA_DISABLED := true

LINT_PATHS := src tests scripts $(wildcard benchmarks)

.PHONY: demo test lint install install-dev bench bench-training bench-pages bench-serving bench-monitoring clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/shoal demo $(DEMO_ARGS)

lint: install-dev
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python benchmarks/bench_registry.py

bench-training: install-dev
	$(BIN)/python benchmarks/bench_training.py $(BENCH_ARGS)

bench-pages: install-dev
	$(BIN)/python benchmarks/bench_pages.py $(BENCH_ARGS)

bench-serving: install-dev
	$(BIN)/python benchmarks/bench_serving.py $(BENCH_ARGS)

bench-monitoring: install-dev
	$(BIN)/python benchmarks/bench_monitoring.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
