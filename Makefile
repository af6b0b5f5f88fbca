# Two commands set up a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test test-slurm test-fast synthetic lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

bedtools:
	@command -v bedtools >/dev/null || { \
	  echo "bedtools not found: installing Debian's package"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bedtools; }

setup: $(VENV)/.installed bedtools

demo: setup
	$(BIN)/snakemake --cores $(CORES)

synthetic: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/synthetic.yaml

# The Slurm tests (a one-node cluster started by the test, ~7 min) run in `make test-slurm`, so that
# `make test` (what CI runs) stays well inside CI's time limit.
test: setup
	$(BIN)/python -m pytest -x -q --durations=15 -m "not slurm" $(PYTEST_ARGS)

test-slurm: setup
	$(BIN)/python -m pytest -x -q -m slurm $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -x -q -m "not slow" $(PYTEST_ARGS)

# What the Snakemake workflow catalog checks: formatting (snakefmt, settings in pyproject.toml) and
# snakemake's own lints. tests/test_lint.py runs the same two, so `make test` (CI) checks them too.
lint: setup
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake resources/data resources/synthetic
