# OpenDEX: `make run` starts the platform with demo data, `make test` runs the test suite.
# Both install what they need first (a virtualenv in .venv, PostgreSQL from Debian if missing).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The install stamp changes with pyproject.toml, so a changed dependency list reinstalls.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
WITH_DB := $(PY) -m portal.pgcluster run --
PYTEST_ARGS ?=

.PHONY: install system-deps run test lint db-start db-stop bench clean

install: system-deps $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: install
	$(WITH_DB) $(PY) manage.py runplatform

test: install
	$(WITH_DB) $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

db-start: install
	$(PY) -m portal.pgcluster start

db-stop: install
	$(PY) -m portal.pgcluster stop

bench: install
	$(WITH_DB) $(PY) bench/run.py

clean: db-stop
	rm -rf .data
