# Exitdesk: `make run` starts the whole application with demo data, `make test` runs the tests.
# Both create .venv on first use and re-install requirements only when the files change.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
RUN_STAMP := $(VENV)/.requirements.stamp
TEST_STAMP := $(VENV)/.requirements-test.stamp

.PHONY: run test test-ahead lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	@echo "==> Installing requirements.txt into $(VENV)"
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(TEST_STAMP): requirements.txt requirements-test.txt | $(BIN)/python
	@echo "==> Installing requirements-test.txt into $(VENV)"
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-test.txt
	@touch $@

# The web server and a Celery worker with embedded beat, on SQLite and the filesystem broker
# under var/. Each runs in its own process group (set -m); Ctrl-C, or either of them stopping,
# stops both groups (runserver's reloader child and the embedded beat process included).
run: $(RUN_STAMP)
	mkdir -p var/celery/processed var/celery/control
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo --members 300 --records 20 --demo-logins
	@echo
	@echo "==> Exitdesk: log in at http://127.0.0.1:8000/admin/ with a login printed above."
	@echo "    Ctrl-C stops the web server, the worker and beat."
	@echo
	@set -m; \
	$(MANAGE) runserver 127.0.0.1:8000 & web=$$!; \
	$(BIN)/celery -A config worker -B --pool=solo --loglevel=info \
		-s var/celerybeat-schedule & worker=$$!; \
	set +m; \
	trap 'trap - INT TERM HUP EXIT; kill -TERM -- -$$web -$$worker 2>/dev/null; wait' INT TERM HUP EXIT; \
	wait -n

# The whole suite (options in pyproject.toml: xdist, markers). Set DATABASE_URL and
# CELERY_BROKER_URL to run it on PostgreSQL and Redis; browser tests use /usr/bin/chromium.
test: $(TEST_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite once more a year ahead (Debian's faketime, libfaketime) on SQLite, with no
# broker: a test that reads the clock outside its time travel, or builds a fixed date, fails here.
# Services are not required in this pass; `make test` on PostgreSQL and Redis covers them.
test-ahead: $(TEST_STAMP)
	env -u DATABASE_URL -u CELERY_BROKER_URL -u REQUIRE_SERVICES \
		faketime -f '+400d' $(BIN)/pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

# How long the heavy paths take, and in how many queries: a table (offboarding/management/commands/
# bench.py). On its own SQLite database under var/ unless DATABASE_URL is set; everything it
# creates is rolled back. BENCH_ARGS="--members 20000 --records 20" to go bigger.
bench: $(TEST_STAMP)
	mkdir -p var
	DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/var/bench.sqlite3} $(MANAGE) migrate --noinput -v 0
	DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/var/bench.sqlite3} $(MANAGE) bench $(BENCH_ARGS)
