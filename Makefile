# Two commands set everything up on a fresh machine:
#   make demo   -- create .venv, install emrestore, run the main job on a generated example
#   make test   -- create .venv, install emrestore with test tools, run the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test test-all bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/emrestore demo

test: $(VENV)/.installed
	$(PY) -m pytest

test-all: $(VENV)/.installed
	$(PY) -m pytest -m "slow or not slow"

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache demo
