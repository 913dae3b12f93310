# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-postgres install chromium lint format bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_first_user
	$(VENV)/bin/gunicorn -c config/gunicorn.conf.py

# Debian's chromium drives the browser tests (Playwright's own download is unreachable).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install chromium lint
	DATA_DIR=$$(mktemp -d) DJANGO_ALLOW_ASYNC_UNSAFE=true $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

# The database-level suite again on PostgreSQL (DATABASE_URL), in a throwaway cluster.
test-postgres: install
	DATA_DIR=$$(mktemp -d) .ci/with-postgres $(VENV)/bin/pytest -n 2 -m "not browser and not server" $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py
