"""The whole production stack as the README's "Production" section starts it: gunicorn, a Celery
worker and one beat, each a process of its own under `config.settings.production`, configured by
the environment alone, on PostgreSQL (the test's own database: the test is transactional, so the
processes see what it writes) and Redis (a broker database and a cache database of the test's own),
with the static files collected as the operator collects them.

The web server is reached as the TLS-terminating proxy reaches it: plain HTTP carrying the site's
`Host`, `X-Forwarded-Proto: https` and `X-Forwarded-For`. The cookies are kept by the test
(they are `Secure`: an HTTP client would not send them back over plain HTTP).

What an on-call engineer relies on:
- a member logs in through the proxy, and a request that did not come through it is redirected to
  HTTPS;
- a periodic task sent by beat runs on the worker and writes its run;
"""

import os
import re
import secrets
import socket
import subprocess
import sys
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from directory.choices import JobStatus
from directory.models import JobRun
from tests import factories
from tests.integration.conftest import BASE_DIR, CELERY, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BIN = os.path.dirname(sys.executable)
GUNICORN = os.path.join(BIN, "gunicorn")
PYTHON = sys.executable
HOST = "exitdesk.example.cn"
SITE = f"https://{HOST}"
CLIENT = "203.0.113.7"  # the browser's address, as the proxy appends it to X-Forwarded-For
PASSWORD = "Correct-Horse-Battery-9"
WAIT = 30  # seconds: the longest any one step may take

GRACE_JOB = "offboarding.expire_grace_windows"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The environment and the processes, as the README's Production section has them


@pytest.fixture
def production_env(worker_env, redis_url, cache_url, tmp_path):
    """Every variable the README's Production section sets, for this test's database and Redis;
    the master and audit keys the test process itself seals and hashes with."""
    env = {
        key: value
        for key, value in worker_env.items()
        if not key.startswith(("DJANGO_", "CELERY_", "EXITDESK_", "EMAIL_", "GUNICORN_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=worker_env["DATABASE_URL"],
        CELERY_BROKER_URL=redis_url,
        CACHE_URL=cache_url,
        DJANGO_ALLOWED_HOSTS=HOST,
        EXITDESK_MASTER_KEYS=",".join(settings.EXITDESK_MASTER_KEYS),
        EXITDESK_AUDIT_KEYS=",".join(settings.EXITDESK_AUDIT_KEYS),
        EMAIL_URL="dummymail://",
        DEFAULT_FROM_EMAIL="Exitdesk <exitdesk@example.cn>",
        EXITDESK_SITE_URL=SITE,
        TRUSTED_PROXY_COUNT="1",
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_LEVEL="INFO",
    )
    # The operator's step before starting the processes: the static files whitenoise serves.
    collected = subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    return env


class Web:
    """gunicorn as the proxy reaches it: plain HTTP to its port, the proxy's headers on every
    request (unless `proxied=False`), cookies kept here."""

    def __init__(self, process, port: int):
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, data=None, headers=None, proxied=True):
        sent = {"Host": HOST}
        if proxied:
            sent.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent.update(headers or {})
        response = requests.request(
            method,
            self.base + path,
            data=data,
            headers=sent,
            allow_redirects=False,
            timeout=WAIT,
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **options):
        return self.request("GET", path, **options)

    def follow(self, response, **options):
        """The page a redirect leads to (on this site)."""
        location = urlsplit(response.headers["Location"])
        assert location.netloc in ("", HOST), response.headers["Location"]
        path = location.path + (f"?{location.query}" if location.query else "")
        return self.get(path, **options)

    def answers(self) -> bool:
        try:
            requests.get(
                self.base + "/", headers={"Host": HOST}, allow_redirects=False, timeout=WAIT
            )
        except requests.ConnectionError:
            return False
        return True


@pytest.fixture
def start_web(production_env, start_process):
    def start_web() -> Web:
        port = free_port()
        web = Web(None, port)
        env = {**production_env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        web.process = start_process(
            "web",
            [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env,
            ready=lambda process: web.answers(),
        )
        return web

    return start_web


@pytest.fixture
def start_worker(production_env, start_process):
    def start_worker(name: str = "worker"):
        return start_process(
            name,
            [CELERY, "-A", "config", "worker", "--loglevel=info"],
            env=production_env,
            ready=lambda worker: " ready." in worker.output(),
        )

    return start_worker


@pytest.fixture
def start_beat(production_env, start_process):
    def start_beat(name: str = "beat"):
        return start_process(
            name,
            [CELERY, "-A", "config", "beat", "--loglevel=info"],
            env=production_env,
            ready=lambda beat: "beat: Starting..." in beat.output(),
        )

    return start_beat


def every(task: str, seconds: int, *, one_off: bool = False) -> PeriodicTask:
    """A schedule of `task` due now and every `seconds` (or once), as staff set it in the admin;
    every other schedule off, so that only these run in the test."""
    PeriodicTask.objects.update(enabled=False)
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return PeriodicTask.objects.update_or_create(
        name=f"{task} (test)",
        defaults={
            "task": task,
            "interval": interval,
            "one_off": one_off,
            "enabled": True,
            "start_time": timezone.now() - timedelta(seconds=seconds),
        },
    )[0]


def runs_by(worker, job: str):
    """The finished runs of `job` written by the worker's processes (its pool's children)."""
    mine = []
    for run in JobRun.objects.filter(job=job).exclude(status=JobStatus.RUNNING):
        _, _, pid = run.worker.rpartition(":")
        try:
            group = os.getpgid(int(pid))
        except (ValueError, ProcessLookupError):
            continue
        if group == worker.process.pid:
            mine.append(run)
    return mine


# ---------------------------------------------------------------------------------------------
# The web server: login through the proxy, the HTTPS redirect


@pytest.fixture
def member(db):
    """A member who logs in with a password hashed as production hashes it (PBKDF2)."""
    enterprise = factories.EnterpriseFactory(name="宏远制造有限公司", code="hongyuan")
    member = factories.MemberFactory(
        enterprise=enterprise, name="林志远", user__username="lin.zhiyuan@hongyuan"
    )
    member.user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    member.user.save(update_fields=["password"])
    return member


def log_in(web: Web, username: str, password: str):
    """The login page, then the form posted as the browser posts it; the page it leads to."""
    page = web.get("/accounts/login/")
    assert page.status_code == 200, page.text[-2000:]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    posted = web.request(
        "POST",
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Origin": SITE, "Referer": f"{SITE}/accounts/login/"},
    )
    assert posted.status_code == 302, posted.text[-2000:]
    return web.follow(posted)


def test_a_member_logs_in_through_the_proxy_and_plain_http_is_redirected(start_web, member):
    web = start_web()

    # a request that did not come through the proxy is sent to HTTPS
    direct = web.get("/accounts/login/", proxied=False)
    assert direct.status_code == 301
    assert direct.headers["Location"] == f"{SITE}/accounts/login/"

    # through the proxy: the login page, the form posted, the member's home with their name
    home = log_in(web, "lin.zhiyuan@hongyuan", PASSWORD)
    assert home.status_code == 200
    assert "林志远" in home.text
    assert "Strict-Transport-Security" in home.headers
    assert "sessionid" in web.cookies


# ---------------------------------------------------------------------------------------------
# The worker and beat


def test_a_task_sent_by_beat_runs_on_the_worker_and_writes_its_run(start_worker, start_beat):
    every(GRACE_JOB, 1)
    worker = start_worker()
    beat = start_beat()
    wait_for(
        lambda: runs_by(worker, GRACE_JOB),
        timeout=WAIT,
        what=f"a run of {GRACE_JOB} written by the worker",
        logs=[worker.log, beat.log],
    )
    run = runs_by(worker, GRACE_JOB)[0]
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {"all": {"windows_closed": 0}}
