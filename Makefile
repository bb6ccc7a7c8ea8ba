# `make run` opens the desk; `make test` runs ruff and the whole test suite.
# Both create or refresh the local virtual environment in .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Checkov, for tests/deploy, in a venv of its own inside .venv (so git, ruff and `make clean`
# already treat it as the venv): it pins its dependencies exactly and ships an `hcl2` module
# that would overwrite python-hcl2's in the project's venv.
TOOLS := $(VENV)/tools
TOOLS_STAMP := $(TOOLS)/.installed
TOOLS_REQUIREMENTS := tests/deploy/tools-requirements.txt

.PHONY: run sim test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(TOOLS_STAMP): $(TOOLS_REQUIREMENTS) | $(BIN)/python
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r $(TOOLS_REQUIREMENTS)
	touch $(TOOLS_STAMP)

run: $(STAMP)
	$(BIN)/omc $(ARGS)

sim: $(STAMP)
	$(BIN)/omc --sim $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint $(TOOLS_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
