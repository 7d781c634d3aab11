# Gantry: `make run` starts everything locally with zero setup; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export FLASK_APP := wsgi.py

.PHONY: run test test-year-ahead lint typecheck deps pytest install install-dev install-local bench migrate clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.installed-local: requirements-local.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-local.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

install-local: $(VENV)/.installed-local

## run: web server, worker and (unless REDIS_URL is set) an embedded Redis, on SQLite unless DATABASE_URL is set
run: $(VENV)/.installed-local
	$(PY) -m webapp.local

migrate: $(VENV)/.installed
	$(VENV)/bin/flask db upgrade

## test: ruff, mypy and pytest against real PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)
test: install-dev lint typecheck deps pytest

lint: install-dev
	$(VENV)/bin/ruff check .

typecheck: install-dev
	$(VENV)/bin/mypy

## deps: every import has a pin and every pin an import (deptry). First the app's code against
## requirements.txt (+ requirements-local.txt for make run), as configured in pyproject.toml; then
## everything, tests and benchmarks too, against requirements-dev.txt. Dev pins that are never
## imported: pytest plugins (pytest-flask, pytest-timeout) and tools run as commands or read by mypy.
DEPTRY_ALL := --exclude '\.venv|docs|instance' --known-first-party webapp,tasks,worker,wsgi,sandbox,tests,bench \
	--requirements-files requirements-dev.txt,requirements-local.txt --requirements-files-dev requirements-dev.txt \
	--per-rule-ignores 'DEP002=hiredis|six|psycopg2-binary|gunicorn|pytest-flask|pytest-timeout|ruff|mypy|types-requests|boto3-stubs|deptry'

deps: install-dev
	$(VENV)/bin/deptry .
	$(VENV)/bin/deptry . $(DEPTRY_ALL)

pytest: install-dev
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## test-year-ahead: the whole suite with every clock a year ahead (needs Debian's libfaketime and redis-server)
test-year-ahead: install-dev
	$(PY) -m tests.year_ahead --days $(or $(DAYS),365) $(PYTEST_ARGS)

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
