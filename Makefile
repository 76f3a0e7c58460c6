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

# The heavy paths beside their limits, as a table on stdout and a JSON file under var/
# (offboarding/bench/, docs/benchmarks.md). SCALE=S: 2,000 members (the default); SCALE=M: 20,000
# members, 400,000 external contacts, 2,000,000 work records. The benchmark makes a database of
# its own: with DATABASE_URL=postgres://…/NAME it creates NAME_bench beside it (dropped at the
# end), else a new SQLite file var/bench-<scale>.sqlite3; concurrency rows need PostgreSQL.
# BENCH_ARGS adds options: BENCH_ARGS="--runs 5 --keep --json var/mine.json".
SCALE ?= S
bench: $(TEST_STAMP)
	mkdir -p var
	$(MANAGE) bench --scale $(SCALE) $(BENCH_ARGS)
