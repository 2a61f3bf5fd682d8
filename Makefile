# Two commands set everything up on a fresh machine:
#   make demo   -- create .venv, install emrestore (core only), run the demo on a simulated frame
#   make test   -- create .venv, install emrestore with the dev extra (test tools), run the tests
# Each install has its own stamp: `make test` installs the dev extra on top of whatever
# `make demo` installed, and `make demo` after `make test` installs nothing more.
# Both re-install when pyproject.toml changes. docs/install.md: the extras and their sizes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test test-all clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The core: reading, writing, restoring, the simulator (ase) and the demo's PNG (Pillow).
$(VENV)/.installed-core: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

# Everything the test suite uses (it includes the core).
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(VENV)/bin/emrestore demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest

test-all: $(VENV)/.installed-dev
	$(PY) -m pytest -m "slow or not slow"

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache demo
