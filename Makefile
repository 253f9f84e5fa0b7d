# Two commands for a fresh machine with Python 3.11: `make quickstart` and `make test`.
# Each creates .venv (once) and installs everything it needs into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PACKAGE := $(VENV)/.package-installed

.PHONY: quickstart test lint install benchmark-devnet clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.14.1" "torchvision==0.29.1" || $(PIP) install -q "torch>=2.10" "torchvision>=0.25"
	$(PIP) install -q ".[test]"
	touch $(STAMP) $(PACKAGE)

# The package is installed non-editable (the tests check what a wheel ships); reinstall it whenever a file under
# src/ changed, so that `make quickstart` and the benchmarks never run an older copy of the code. Directories are
# prerequisites too: deleting or renaming a module changes only its directory's modification time (a new
# __pycache__ beside the sources does as well, which costs one spare reinstall).
$(PACKAGE): $(STAMP) $(shell find src -not -path '*/__pycache__*')
	$(PIP) install -q --no-deps --force-reinstall .
	touch $(PACKAGE)

install: $(PACKAGE)

quickstart: $(PACKAGE)
	HF_HUB_OFFLINE=1 $(VENV)/bin/anomalib-contam quickstart

test: $(STAMP)
	$(PIP) install -q --no-deps --force-reinstall .
	touch $(PACKAGE)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

benchmark-devnet: $(PACKAGE)
	HF_HUB_OFFLINE=1 $(VENV)/bin/anomalib-contam benchmark --config benchmarks/devnet.yaml

clean:
	rm -rf $(VENV) results
