# Gantry: `make run` starts everything locally with zero setup; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export FLASK_APP := wsgi.py

.PHONY: run test lint typecheck pytest install install-dev bench migrate clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## run: web server, worker and (unless REDIS_URL is set) an embedded Redis, on SQLite unless DATABASE_URL is set
run: $(VENV)/.installed
	$(PY) -m webapp.local

migrate: $(VENV)/.installed
	$(VENV)/bin/flask db upgrade

## test: ruff, mypy and pytest against real PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)
test: install-dev lint typecheck pytest

lint: install-dev
	$(VENV)/bin/ruff check .

typecheck: install-dev
	$(VENV)/bin/mypy

pytest: install-dev
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
