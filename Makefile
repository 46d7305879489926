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

BENCHMARKS := registry training pages serving monitoring reports batch

.PHONY: demo test lint install install-dev bench bench-quick $(addprefix bench-,$(BENCHMARKS)) clean

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
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# make bench-training BENCH_ARGS="--quick"; `make bench` is the registry benchmark
bench: bench-registry

$(addprefix bench-,$(BENCHMARKS)): bench-%: install-dev
	$(BIN)/python benchmarks/bench_$*.py $(BENCH_ARGS)

# every benchmark's --quick mode, comparators included (what CI runs in `make test`)
bench-quick: install-dev
	$(BIN)/python -m pytest tests/test_benchmarks.py -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
