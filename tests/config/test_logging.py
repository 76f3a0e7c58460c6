"""The logs an operator searches: every line with its time, level and logger; a request's lines
with its request id, user and enterprise; a task's with its name, id and job run; JSON when asked;
one line per failed login."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import structlog
from celery.signals import task_postrun, task_prerun
from django.test import Client

from config import logging as exitdesk_logging
from config.celery import TaskLogContextStep, app, bind_task_name, forget_task
from directory.jobs import job_run
from directory.request_log import request_id_from
from tests import factories

ROOT = Path(__file__).resolve().parent.parent.parent
LOGIN_URL = "/accounts/login/"


class Lines:
    """What the configured formatter writes while the test runs, line by line."""

    def __init__(self, log_format):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(exitdesk_logging.stdlib_formatter(log_format))

    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines() if line.startswith("{")]


@pytest.fixture
def json_lines():
    lines = Lines("json")
    root = logging.getLogger()
    root.addHandler(lines.handler)
    yield lines
    root.removeHandler(lines.handler)


@pytest.fixture
def console_lines():
    lines = Lines("console")
    root = logging.getLogger()
    root.addHandler(lines.handler)
    yield lines
    root.removeHandler(lines.handler)


def finished(records, request_id):
    return [
        r for r in records if r["event"] == "request_finished" and r.get("request_id") == request_id
    ]


def utc_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------
# Web requests


def test_a_members_request_is_logged_with_its_id_user_and_enterprise(
    client, enterprise, json_lines
):
    member = factories.MemberFactory(enterprise=enterprise)
    client.force_login(member.user)

    response = client.get("/", HTTP_X_REQUEST_ID="trace-77")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "trace-77"
    [line] = finished(json_lines.records(), "trace-77")
    assert line["level"] == "info"
    assert line["logger"] == "django_structlog.middlewares.request"
    assert line["code"] == 200
    assert line["request"] == "GET /"
    assert line["user_id"] == member.user.pk
    assert line["enterprise_id"] == enterprise.pk
    assert utc_time(line["timestamp"]).utcoffset().total_seconds() == 0


def test_a_staff_request_names_the_user_without_an_enterprise(hr_client, json_lines, hr_user):
    hr_client.get("/admin/", HTTP_X_REQUEST_ID="staff-1")

    [line] = finished(json_lines.records(), "staff-1")
    assert line["user_id"] == hr_user.pk
    assert "enterprise_id" not in line


@pytest.mark.parametrize(
    "sent", ["has space", "x" * 65, "semi;colon", "new\nline", "", "引号"], ids=repr
)
def test_a_request_id_that_is_not_a_sane_token_is_replaced(client, db, json_lines, sent):
    response = Client().get(LOGIN_URL, HTTP_X_REQUEST_ID=sent)

    given = response["X-Request-ID"]
    assert given != sent
    assert re.fullmatch(r"[0-9a-f]{32}", given)
    assert finished(json_lines.records(), given)


def test_without_a_request_id_one_is_made_and_returned(client, db):
    first = client.get(LOGIN_URL)["X-Request-ID"]
    second = client.get(LOGIN_URL)["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_a_sane_request_id_is_kept():
    assert request_id_from("5f0c1c1e-0c5b-4a8e-9a53-2c1a3f3b1a77") == (
        "5f0c1c1e-0c5b-4a8e-9a53-2c1a3f3b1a77"
    )
    assert request_id_from("a" * 64) == "a" * 64


def test_a_line_of_our_code_during_a_request_carries_its_id_in_the_same_format(
    client, hr_user, json_lines
):
    # A failed login: our own line (directory.security), logged inside the request.
    client.post(LOGIN_URL, {"username": "hr", "password": "wrong"}, HTTP_X_REQUEST_ID="login-try-1")

    failed = [r for r in json_lines.records() if r["event"] == "login_failed"]
    assert [r["request_id"] for r in failed] == ["login-try-1"]
    assert failed[0]["level"] == "warning"
    assert failed[0]["logger"] == "directory.security"


def test_a_standard_library_line_carries_the_bound_context(json_lines):
    with structlog.contextvars.bound_contextvars(request_id="abc", user_id=7):
        logging.getLogger("directory.mail").warning("user %s not sent: %s", 7, "refused")

    [line] = [r for r in json_lines.records() if r["logger"] == "directory.mail"]
    assert line["event"] == "user 7 not sent: refused"
    assert line["level"] == "warning"
    assert line["request_id"] == "abc"
    assert line["user_id"] == 7
    utc_time(line["timestamp"])


def test_the_console_format_is_key_value_text(console_lines):
    with structlog.contextvars.bound_contextvars(request_id="abc"):
        logging.getLogger("directory.mail").warning("not sent")

    [line] = [x for x in console_lines.text().splitlines() if "not sent" in x]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[warning\s*\] \[directory.mail\] not sent "
        r"request_id=abc",
        line,
    )


def test_an_error_in_json_carries_its_traceback_without_local_variables(json_lines):
    secret = "hunter2-password"  # noqa: F841  (a local a traceback with locals would show)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("directory.jobs").exception("job failed")

    [line] = [r for r in json_lines.records() if r["event"] == "job failed"]
    assert "ValueError: broken" in line["exception"]
    assert "hunter2" not in json.dumps(line)


def test_probe_requests_are_not_logged_at_info():
    quiet = exitdesk_logging.QuietPathsFilter()

    def record(level, request):
        event = {"event": "request_finished", "request": request, "code": 200}
        return logging.LogRecord("django_structlog", level, "", 0, event, None, None)

    assert not quiet.filter(record(logging.INFO, "GET /healthz"))
    assert not quiet.filter(record(logging.INFO, "GET /readyz?full=1"))
    assert quiet.filter(record(logging.ERROR, "GET /readyz"))  # a failing probe is logged
    assert quiet.filter(record(logging.INFO, "GET /healthzz"))
    assert quiet.filter(record(logging.INFO, "GET /exits/healthz"))


def test_a_scrape_of_the_metrics_is_not_logged_at_info(client, settings, json_lines):
    settings.METRICS_TOKEN = "scrape-token"

    response = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer scrape-token", HTTP_X_REQUEST_ID="scrape-1"
    )
    refused = client.get("/metrics", HTTP_X_REQUEST_ID="scrape-2")

    assert response.status_code == 200
    assert refused.status_code == 401
    assert not finished(json_lines.records(), "scrape-1")
    [line] = finished(json_lines.records(), "scrape-2")
    assert line["level"] == "warning"


# ---------------------------------------------------------------------------------------------
# Logins (django-axes)


def login_lines(records):
    return [r for r in records if r["logger"].startswith(("axes", "directory.security"))]


def test_a_failed_login_gives_one_warning_line(client, hr_user, json_lines):
    client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})
    client.post(LOGIN_URL, {"username": "hr", "password": "wrong again"})

    lines = login_lines(json_lines.records())
    assert [(r["level"], r["event"], r["username"], r["failures"]) for r in lines] == [
        ("warning", "login_failed", "hr", 1),
        ("warning", "login_failed", "hr", 2),
    ]
    assert lines[0]["locked_out"] is False
    assert lines[0]["client_ip"] == "127.0.0.1"
    assert "wrong" not in json_lines.text()


def test_the_login_that_locks_out_says_so_in_its_one_line(client, hr_user, settings, json_lines):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN_URL, {"username": "hr", "password": "wrong"})

    lines = login_lines(json_lines.records())
    assert len(lines) == settings.AXES_FAILURE_LIMIT
    assert [r["locked_out"] for r in lines] == [False] * (settings.AXES_FAILURE_LIMIT - 1) + [True]


def test_a_successful_login_writes_no_login_line(client, hr_user, json_lines):
    response = client.post(LOGIN_URL, {"username": "hr", "password": factories.PASSWORD})

    assert response.status_code == 302
    assert login_lines(json_lines.records()) == []


def test_manage_py_commands_print_no_axes_banner():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert "AXES" not in done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# Tasks and job runs


def test_a_job_runs_lines_carry_its_run_id_and_no_others_do(db, json_lines):
    log = logging.getLogger("compliance.jobs")
    with job_run("logging-test") as run:
        log.info("inside the run")
    log.info("after the run")

    by_event = {r["event"]: r for r in json_lines.records()}
    assert by_event["inside the run"]["job_run_id"] == run.pk
    assert "job_run_id" not in by_event["after the run"]


@pytest.fixture
def worker_log_context():
    """The worker's boot step, as a worker starts it (its receivers disconnected afterwards)."""
    step = TaskLogContextStep(SimpleNamespace())
    yield step
    receiver = step.receiver
    task_prerun.disconnect(receiver.receiver_task_prerun)
    task_postrun.disconnect(forget_task, dispatch_uid="exitdesk.forget_task")
    from django_structlog.celery.signals import bind_extra_task_metadata

    bind_extra_task_metadata.disconnect(bind_task_name, dispatch_uid="exitdesk.bind_task_name")
    structlog.contextvars.clear_contextvars()


def test_a_tasks_lines_carry_its_name_and_id(worker_log_context, json_lines):
    from offboarding.tasks import close_undo_windows

    task = app.tasks[close_undo_windows.name]
    task_prerun.send(sender=task, task_id="task-1", task=task, args=(), kwargs={})
    logging.getLogger("compliance.jobs").info("doing the work")
    task_postrun.send(sender=task, task_id="task-1", task=task, args=(), kwargs={}, retval=None)
    logging.getLogger("compliance.jobs").info("between tasks")

    by_event = {r["event"]: r for r in json_lines.records()}
    assert by_event["task_started"]["task_id"] == "task-1"
    assert by_event["doing the work"]["task"] == "offboarding.close_undo_windows"
    assert by_event["doing the work"]["task_id"] == "task-1"
    assert "task_id" not in by_event["between tasks"]


def test_the_json_format_is_chosen_by_log_format():
    assert exitdesk_logging.logging_dict(log_format="json")["formatters"]["structured"] == {
        "()": exitdesk_logging.stdlib_formatter,
        "log_format": "json",
    }
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        exitdesk_logging.logging_dict(log_format="xml")
