"""The Celery app is wired to the configured broker and finds the periodic schedule."""

from django.conf import settings

from config.celery import app
from tests.conftest import skip_or_fail


def test_the_celery_app_reads_its_broker_and_scheduler_from_settings():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.beat_scheduler == "config.beat:HeartbeatScheduler"
    assert app.conf.task_acks_late is True


def test_the_configured_broker_accepts_a_connection():
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        skip_or_fail("this test needs a broker server (set CELERY_BROKER_URL to Redis)")
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        assert connection.connected
