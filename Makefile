# Entry points for people and CI. `make test` creates .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: test test-all venv clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e ".[test,workflow]"
	touch $@

# Default suite (excludes tests marked slow); about 10 minutes on 2 cores.
test: venv
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Everything, including the slow tests.
test-all: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
