# Entry points for people and CI. `make test` creates .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
SNAKEMAKE_ARGS ?=

.PHONY: test test-slurm-chain test-all lint format pipeline venv clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e ".[test,workflow,lint]"
	touch $@

# Default suite (excludes tests marked slow); about 15 minutes on 2 cores.
test: venv
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The time-limit chain on the loopback SLURM cluster (marked slow, about 6 minutes); CI runs it after
# the default suite.
test-slurm-chain: venv
	$(VENV)/bin/python -m pytest -m "slurm and slow" $(PYTEST_ARGS)

# The default pipeline (config/config.yaml: all four papers reduced to digits, on the CPU) into
# results/; about 14 minutes on 2 idle cores. Extra options: make pipeline SNAKEMAKE_ARGS="-n";
# another config: make pipeline CONFIG=config/ci.yaml (checked first by `randsmooth snakemake`).
CONFIG ?=
pipeline: venv
	$(VENV)/bin/python -m randsmooth snakemake --cores all $(SNAKEMAKE_ARGS) $(if $(CONFIG),--configfile $(CONFIG))

# Lint (ruff: pyflakes, pycodestyle, bugbear, import order) and formatting checks (ruff format, snakefmt).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

# Rewrite the tree in the project's format.
format: venv
	$(VENV)/bin/ruff check --fix --select I .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/snakefmt Snakefile workflow/rules

# Everything, including the slow tests.
test-all: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
