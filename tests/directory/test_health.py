"""The probes (directory/health.py): /healthz answers while the process lives; /readyz answers 200
when everything the app needs answers, else 503 naming what failed (why, only with the token)."""

import asyncio
import json
import logging
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import sync_to_async
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from compliance import crypto
from directory import heartbeats
from directory.health import ReadinessView
from tests import factories

pytestmark = pytest.mark.django_db

CHECKS = [
    "Database",
    "Migrations",
    "Cache",
    "Broker",
    "MasterKeys",
    "Beat",
    "Worker",
    "OverdueJobsCheck",
]
TOKEN = "s3cret-health-token"


@pytest.fixture(autouse=True)
def _fresh_state():
    ReadinessView._last_failing = None
    crypto.forget_master()
    yield
    ReadinessView._last_failing = None
    crypto.forget_master()


@pytest.fixture
def probe():
    """A load balancer: its own address as Host (not in ALLOWED_HOSTS), plain HTTP."""
    return Client(HTTP_HOST="10.1.2.3")


@pytest.fixture
def alive():
    """Beat and a worker seen just now."""
    heartbeats.beat("beat", "beat-host:1")
    heartbeats.beat("worker", "celery@worker-host")


def lines(response) -> dict[str, str]:
    status, *rest = response.content.decode().splitlines()
    return {"status": status} | dict(line.split(": ", 1) for line in rest)


def test_healthz_answers_any_host_over_http_without_the_database(
    probe, settings, django_assert_num_queries
):
    settings.SECURE_SSL_REDIRECT = True
    with django_assert_num_queries(0):
        response = probe.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert probe.post("/healthz").status_code == 405


def test_readyz_is_200_when_everything_answers(probe, settings, alive):
    settings.SECURE_SSL_REDIRECT = True
    response = probe.get("/readyz")
    assert response.status_code == 200, response.content
    assert lines(response) == {"status": "ok"} | dict.fromkeys(CHECKS, "ok")
    as_json = probe.get("/readyz", HTTP_ACCEPT="application/json")
    assert as_json["Content-Type"] == "application/json"
    assert json.loads(as_json.content) == {"status": "ok", "checks": dict.fromkeys(CHECKS, "ok")}


def test_readyz_names_the_failed_check_and_says_why_only_with_the_token(probe, settings):
    settings.HEALTH_CHECK_TOKEN = TOKEN
    heartbeats.beat("worker", "celery@worker-host")
    start = timezone.now()
    with time_machine.travel(start - timedelta(seconds=301), tick=False):
        heartbeats.beat("beat", "beat-host:1")
    with time_machine.travel(start, tick=False):
        anyone = probe.get("/readyz")
        wrong = probe.get("/readyz", HTTP_AUTHORIZATION="Bearer not-the-token")
        operator = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert anyone.status_code == wrong.status_code == operator.status_code == 503
    assert lines(anyone) == {"status": "unavailable"} | dict.fromkeys(CHECKS, "ok") | {
        "Beat": "failed"
    }
    assert lines(wrong) == lines(anyone)
    assert lines(operator)["Beat"] == "failed: beat not seen for 301 s"
    assert lines(operator)["Worker"] == "ok"


def test_no_token_configured_shows_no_details(probe, settings):
    settings.HEALTH_CHECK_TOKEN = ""
    response = probe.get("/readyz", HTTP_AUTHORIZATION="Bearer ")
    assert lines(response)["Beat"] == "failed"


def test_readyz_fails_when_no_worker_is_seen_recently(probe, settings):
    settings.HEALTH_CHECK_TOKEN = TOKEN
    settings.READINESS_WORKER_MAX_AGE = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeats.beat("worker", "celery@worker-host")
    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        heartbeats.beat("beat", "beat-host:1")
        response = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert lines(response)["Worker"] == "failed: worker not seen for 90 s"
    assert lines(response)["Beat"] == "ok"


def test_readyz_fails_when_the_broker_does_not_answer(probe, settings, alive):
    settings.HEALTH_CHECK_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # a closed port
    response = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert lines(response)["Broker"].startswith("failed: the broker does not take a connection")
    assert [name for name, state in lines(response).items() if state.startswith("failed")] == [
        "Broker"
    ]


def test_readyz_fails_when_the_master_keys_do_not_unwrap_a_stored_key(
    probe, settings, alive, enterprise
):
    settings.HEALTH_CHECK_TOKEN = TOKEN
    member = factories.MemberFactory(enterprise=enterprise, name="张三")
    crypto.data_key(member.pk)  # wrapped by the development key
    old_keys = settings.EXITDESK_MASTER_KEYS
    settings.EXITDESK_MASTER_KEYS = [Fernet.generate_key().decode()]
    response = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    said = lines(response)["MasterKeys"]
    assert said.startswith("failed: A stored member data key does not unwrap")
    assert str(member.pk) not in said and member.name not in response.content.decode()
    # the old key back after the new one: ready
    settings.EXITDESK_MASTER_KEYS = [*settings.EXITDESK_MASTER_KEYS, *old_keys]
    assert probe.get("/readyz").status_code == 200


def test_readyz_fails_when_a_migration_is_not_applied(probe, settings, alive):
    settings.HEALTH_CHECK_TOKEN = TOKEN
    # the newest migration of an app, as if this code were deployed before `migrate` ran
    newest = MigrationLoader(connections["default"]).graph.leaf_nodes("directory")[0]
    MigrationRecorder.Migration.objects.filter(app="directory", name=newest[1]).delete()
    response = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert lines(response)["Migrations"] == "failed: 1 migration(s) not applied: run migrate"


def test_readyz_fails_when_the_cache_does_not_answer(probe, settings, alive):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = probe.get("/readyz")
    assert response.status_code == 503
    assert lines(response)["Cache"] == "failed"


def test_django_logs_nothing_for_a_probe_and_readyz_logs_each_change_once(probe, alive, caplog):
    caplog.set_level(logging.INFO)
    probe.get("/healthz")
    probe.get("/readyz")
    assert caplog.records == []
    heartbeats.Heartbeat.objects.filter(kind="beat").delete()
    for _ in range(3):
        assert probe.get("/readyz").status_code == 503
    heartbeats.beat("beat", "beat-host:1")
    probe.get("/readyz")
    probe.get("/readyz")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("directory.health", "WARNING", "Not ready: Beat failed"),
        ("directory.health", "INFO", "Ready again"),
    ]


def test_the_operator_sees_why_on_the_server_with_the_health_check_command(capsys):
    # no beat, no worker: the command says so and exits 1
    try:
        with pytest.raises(SystemExit) as exited:
            call_command("health_check", "readyz", "--no-http")
    finally:
        # The command ran the checks in asgiref's own thread: its connection is closed there.
        asyncio.run(sync_to_async(connections.close_all)())
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "Beat(): Unavailable: no beat has ever been seen" in out
    assert "Database(alias='default'): OK" in out


def test_readyz_warns_of_a_job_overdue_but_stays_ready(
    probe, settings, alive, migrated_schedules
):
    """A job that has not succeeded within its expected interval is said (with the token), and the
    process is ready all the same: 200, status `warning`."""
    from directory.choices import JobStatus
    from directory.models import JobRun

    settings.HEALTH_CHECK_TOKEN = TOKEN
    long_ago = timezone.now() - timedelta(hours=3)
    JobRun.objects.create(
        job="offboarding.expire_grace_windows",  # every 5 minutes
        status=JobStatus.SUCCEEDED,
        started_at=long_ago,
        finished_at=long_ago,
    )
    response = probe.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    said = lines(response)
    assert said["status"] == "warning"
    assert said["OverdueJobsCheck"].startswith(
        "warning: offboarding.expire_grace_windows has not succeeded since "
    )
    assert said["Beat"] == "ok"
    # without the token: that a check warns, not which job
    anonymous = lines(probe.get("/readyz"))
    assert anonymous["OverdueJobsCheck"] == "warning"
