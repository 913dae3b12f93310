# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-faults test-oss2 reliability test-postgres test-s3 install chromium nginx lint format bench

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

# Debian's nginx fronts gunicorn in the deployment test (deploy/nginx.conf).
nginx:
	@.ci/install-nginx

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install chromium lint
	DATA_DIR=$$(mktemp -d) DJANGO_ALLOW_ASYNC_UNSAFE=true $(VENV)/bin/pytest -n 2 -m "not faults" $(PYTEST_ARGS)
	$(MAKE) test-faults

# The fault suite: live gunicorn servers, raw sockets, kill -9, a full tmpfs disk, nginx.
test-faults: install nginx
	DATA_DIR=$$(mktemp -d) $(VENV)/bin/pytest -n 2 --dist loadfile -m faults tests/faults $(PYTEST_ARGS)

# oss2's own integration suite (from the pinned oss2 sdist) against this server, V1 and V4
# (OSS2_AUTH=v1 or v4 for one of them: CI runs V1).
OSS2_AUTH ?= both
test-oss2: install
	$(PY) -m tests.oss2_suite.run_suite --auth $(OSS2_AUTH)

# The fault suite, recording tried / held per category in bench/RELIABILITY.md.
reliability: install nginx
	DATA_DIR=$$(mktemp -d) RELIABILITY_REPORT=bench/RELIABILITY.md $(VENV)/bin/pytest -n 2 --dist loadfile -m faults tests/faults $(PYTEST_ARGS)

# The database-level suite again on PostgreSQL (DATABASE_URL), in a throwaway cluster.
test-postgres: install
	DATA_DIR=$$(mktemp -d) .ci/with-postgres $(VENV)/bin/pytest -n 2 -m "not browser and not server and not faults" $(PYTEST_ARGS)

# Scale-out in miniature (docs/deploy.md): two gunicorn servers on one PostgreSQL and
# one SeaweedFS, concurrent misses of one key across both make one origin request.
.PHONY: test-scale-out
test-scale-out: install
	DATA_DIR=$$(mktemp -d) .ci/with-postgres .ci/with-seaweedfs $(VENV)/bin/pytest tests/test_two_servers.py $(PYTEST_ARGS)

# The storage-level suite again with OBJECT_STORAGE=s3, on a throwaway SeaweedFS: atomic
# writes, listing, ranges, conditional GETs, multipart, mirroring, SSE, sweeps, failures.
S3_TESTS := tests/test_storage_s3.py tests/test_storage_s3_server.py \
	tests/test_upload_completeness.py tests/test_object_endpoint.py tests/test_listing.py \
	tests/test_mirroring.py tests/test_append_object.py tests/test_select_object.py \
	tests/test_versioning.py
test-s3: install
	DATA_DIR=$$(mktemp -d) .ci/with-seaweedfs $(VENV)/bin/pytest -n 2 -m "not browser" $(S3_TESTS) $(PYTEST_ARGS)

# Against nginx (static and proxy_store mirror) and a bare Django project in the same
# run; installs Debian's nginx and wrk when missing. bench-quick: smaller counts.
.PHONY: bench-quick bench-tools
bench-tools:
	@bench/install-tools

bench: install bench-tools
	$(PY) bench/run.py

bench-quick: install bench-tools
	$(PY) bench/run.py --quick
