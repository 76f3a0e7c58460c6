"""Error tracking (Sentry) and metrics (Prometheus) are off unless configured; /metrics answers
only the bearer of METRICS_TOKEN."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sentry_sdk

from config import observability

ROOT = Path(__file__).resolve().parent.parent.parent


def test_without_sentry_dsn_nothing_is_initialised():
    assert not sentry_sdk.get_client().is_active()
    assert observability.init_sentry("") is False


def test_with_sentry_dsn_errors_are_sent_without_personal_data():
    # In a process of its own: sentry-sdk's integrations patch Django and Celery for good. The
    # transport keeps what it would send; nothing leaves the machine.
    script = textwrap.dedent(
        """
        import sentry_sdk
        from sentry_sdk.transport import Transport

        from config.observability import init_sentry

        sent = []

        class KeptTransport(Transport):
            def capture_envelope(self, envelope):
                sent.append(envelope)

        started = init_sentry(
            "https://key@sentry.invalid/1",
            environment="staging",
            release="exitdesk@1.2.3",
            process_kind="worker",
            transport=KeptTransport,
        )
        client = sentry_sdk.get_client()
        assert started and client.is_active()
        assert client.options["send_default_pii"] is False
        integrations = set(client.integrations)
        assert {"django", "celery"} <= integrations, integrations
        sentry_sdk.capture_message("something broke")
        sentry_sdk.flush()
        [event] = [e.get_event() for e in sent if e.get_event()]
        assert event["environment"] == "staging", event
        assert event["release"] == "exitdesk@1.2.3", event
        assert event["tags"]["process"] == "worker", event
        print("SENT", event["message"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "SENT something broke" in done.stdout


# ---------------------------------------------------------------------------------------------
# /metrics


def test_metrics_are_not_found_while_off(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    return settings.METRICS_TOKEN


def test_metrics_without_a_token_ask_for_one(client, metrics_on):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization", ["Bearer wrong", "Bearer s3cret-scrape-token-and-more", "Basic czNjcmV0"]
)
def test_metrics_with_another_token_are_refused(client, metrics_on, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code in (401, 403)
    assert b"python_info" not in response.content


def test_a_session_is_no_credential_for_metrics(hr_client, metrics_on):
    assert hr_client.get("/metrics").status_code == 401


def test_metrics_with_the_token_are_served(client, metrics_on):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_on}")

    assert response.status_code == 200
    assert b"python_info" in response.content


def test_turned_on_the_middlewares_and_query_counting_are_added():
    apps, middleware = observability.with_metrics(["directory"], ["a.Middleware"])
    databases = {
        "default": {"ENGINE": "django.db.backends.postgresql"},
        "tests": {"ENGINE": "tests.postgresql_backend"},
    }
    observability.count_queries(databases)

    assert apps == ["directory", "django_prometheus"]
    assert middleware == [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "a.Middleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    assert databases["default"]["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert databases["tests"]["ENGINE"] == "tests.postgresql_backend"


def test_while_off_nothing_of_django_prometheus_is_installed(settings):
    assert not settings.METRICS_TOKEN
    assert "django_prometheus" not in settings.INSTALLED_APPS
    assert not any("prometheus" in m for m in settings.MIDDLEWARE)
    assert "prometheus" not in settings.DATABASES["default"]["ENGINE"]
