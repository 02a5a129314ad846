# Everything bootstraps a local .venv first: python3 and make are all a fresh
# machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint perf soak screenshots record-fixtures clean

$(STAMP): pyproject.toml setup.py workloads/_hotloop.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,web]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ccviz

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not live"

lint: $(STAMP)
	$(BIN)/ruff check workloads tui tests
	$(BIN)/mypy

perf: $(STAMP)
	$(BIN)/python scripts/perf.py

soak: $(STAMP)
	$(BIN)/python scripts/soak.py

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

record-fixtures: $(STAMP)
	$(BIN)/python scripts/record_fixtures.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
