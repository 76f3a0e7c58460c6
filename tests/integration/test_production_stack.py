"""The whole production stack as the README's "Production" section starts it: gunicorn, a Celery
worker and one beat, each started as its systemd unit in deploy/systemd starts it (its command
line and its environment, the environment file's variables being the test's own), under
`config.settings.production`, on PostgreSQL (the test's own database: the test is transactional,
so the processes see what it writes) and Redis (a broker database and a cache database of the
test's own), with the static files collected as the operator collects them.

The web server is reached as the TLS-terminating proxy reaches it: plain HTTP carrying the site's
`Host`, `X-Forwarded-Proto: https` and `X-Forwarded-For`. The cookies are kept by the test
(they are `Secure`: an HTTP client would not send them back over plain HTTP).

What an on-call engineer relies on:
- the health probes answer, and `/readyz` says ready once a worker and beat run;
- a member logs in through the proxy, and a request that did not come through it is redirected to
  HTTPS;
- a periodic task sent by beat runs on the worker and writes its run; a second beat is refused and
  says why, and the first goes on;
- a worker killed with SIGKILL in the middle of a chunk of the nightly retention job, then started
  again, finishes the night's work within the same night, and the runs say so truly;
- every database connection dropped (a failover, a restart) costs no 500.
"""

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from compliance import jobs as retention
from compliance.models import WorkRecord
from directory.choices import JobStatus
from directory.models import JobChunk, JobRun, NightlyMark
from tests import factories
from tests.integration.conftest import BASE_DIR, wait_for
from tests.integration.test_workers import chats, night_enterprise, records_in, retention_events

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HOST = "exitdesk.example.cn"
SITE = f"https://{HOST}"
CLIENT = "203.0.113.7"  # the browser's address, as the proxy appends it to X-Forwarded-For
PASSWORD = "Correct-Horse-Battery-9"
PROBE_TOKEN = "probe-token-of-the-test"
WAIT = 30  # seconds: the longest any one step may take

GRACE_JOB = "offboarding.expire_grace_windows"

# The systemd units the README's Production section installs, and where they expect the checkout.
UNITS = BASE_DIR / "deploy" / "systemd"
INSTALLED = "/srv/exitdesk"

# What a process needs of the environment besides the application's settings.
BASIC = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The environment and the processes, as the README's Production section has them


def unit(name: str, environment_file: dict[str, str], runtime: Path) -> tuple[list[str], dict]:
    """The command line and environment the systemd unit `name` starts its process with, in this
    checkout: its `ExecStart` (the program from this virtualenv), its `Environment=` lines and
    the variables of its environment file, which win over those as systemd has it; its
    `RuntimeDirectory` is `runtime`."""
    command, env = None, {}
    for line in (UNITS / f"{name}.service").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            command = shlex.split(value)
        elif key == "Environment":
            env.update(assignment.split("=", 1) for assignment in shlex.split(value))
        elif key == "WorkingDirectory":
            assert value == INSTALLED, line
        elif key == "RuntimeDirectory":
            runtime.mkdir(exist_ok=True)
            env["RUNTIME_DIRECTORY"] = str(runtime)
    program = command[0].removeprefix(f"{INSTALLED}/.venv/bin/")
    assert "/" not in program, command
    return [str(Path(sys.executable).with_name(program)), *command[1:]], {**env, **environment_file}


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """The operator's `collectstatic` under the production settings (whitenoise's manifest
    storage: the pages cannot be drawn without it), once for every test here."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **{key: os.environ[key] for key in BASIC if key in os.environ},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        # Read by the settings, never reached by collectstatic.
        "DATABASE_URL": "postgres://exitdesk@127.0.0.1:9/exitdesk",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",
        "CACHE_URL": "redis://127.0.0.1:9/1",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "EXITDESK_MASTER_KEYS": ",".join(settings.EXITDESK_MASTER_KEYS),
        "EXITDESK_AUDIT_KEYS": ",".join(settings.EXITDESK_AUDIT_KEYS),
        "EMAIL_URL": "dummymail://",
        "DEFAULT_FROM_EMAIL": "Exitdesk <exitdesk@example.cn>",
        "EXITDESK_SITE_URL": SITE,
        "STATIC_ROOT": str(root),
    }
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    return root


@pytest.fixture
def production_env(worker_env, redis_url, cache_url, static_root):
    """Every variable the README's Production section sets, for this test's database and Redis;
    the master and audit keys the test process itself seals and hashes with."""
    # Nothing of this test run's own environment but what any process needs.
    env = {key: os.environ[key] for key in BASIC if key in os.environ}
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
        DJANGO_CSRF_TRUSTED_ORIGINS=SITE,
        TRUSTED_PROXY_COUNT="1",
        STATIC_ROOT=str(static_root),
        HEALTH_CHECK_TOKEN=PROBE_TOKEN,
        LOG_LEVEL="INFO",
    )
    return env


class Web:
    """gunicorn as the proxy reaches it: plain HTTP to its port, the proxy's headers on every
    request (unless `proxied=False`), cookies kept here."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.process = None

    def request(self, method: str, path: str, *, data=None, headers=None, proxied=True):
        sent = {"Host": HOST}
        if proxied:
            sent.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent.update(headers or {})
        response = requests.request(
            method, self.base + path, data=data, headers=sent, allow_redirects=False, timeout=WAIT
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **options):
        return self.request("GET", path, **options)

    def probe(self, path: str):
        """A load balancer's probe: straight to gunicorn, its own address as Host, no proxy."""
        return requests.get(
            self.base + path,
            headers={"Authorization": f"Bearer {PROBE_TOKEN}"},
            allow_redirects=False,
            timeout=WAIT,
        )

    def follow(self, response, **options):
        """The page a redirect leads to (on this site)."""
        location = urlsplit(response.headers["Location"])
        assert location.netloc in ("", HOST), response.headers["Location"]
        path = location.path + (f"?{location.query}" if location.query else "")
        return self.get(path, **options)

    def answers(self) -> bool:
        try:
            requests.get(self.base + "/healthz", allow_redirects=False, timeout=WAIT)
        except requests.ConnectionError:
            return False
        return True


@pytest.fixture
def start_web(production_env, start_process, tmp_path):
    def start_web(workers: int = 2) -> Web:
        web = Web(free_port())
        command, env = unit(
            "exitdesk-web",
            {
                **production_env,
                "GUNICORN_BIND": web.base.removeprefix("http://"),
                "GUNICORN_WORKERS": str(workers),
            },
            tmp_path / "run",
        )
        web.process = start_process("web", command, env=env, ready=lambda process: web.answers())
        return web

    return start_web


@pytest.fixture
def start_worker(production_env, start_process, tmp_path):
    def start_worker(name: str = "worker", **variables):
        command, env = unit("exitdesk-worker", {**production_env, **variables}, tmp_path / "run")
        return start_process(
            name, command, env=env, ready=lambda worker: " ready." in worker.output()
        )

    return start_worker


@pytest.fixture
def start_beat(production_env, start_process, tmp_path):
    def start_beat(name: str = "beat"):
        command, env = unit("exitdesk-beat", production_env, tmp_path / "run")
        return start_process(
            name, command, env=env, ready=lambda beat: "beat: Starting..." in beat.output()
        )

    return start_beat


def every(task: str, seconds: int, *, one_off: bool = False) -> PeriodicTask:
    """A schedule of `task` due now and every `seconds` (or once), as staff set it in the admin;
    every other schedule off, so that only this one runs in the test."""
    PeriodicTask.objects.update(enabled=False)
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return PeriodicTask.objects.update_or_create(
        # A schedule of its own for each: beat writes back to the one-off's row after sending it.
        name=f"{task} ({'once' if one_off else f'every {seconds}s'})",
        defaults={"task": task, "interval": interval, "one_off": one_off, "enabled": True},
    )[0]


def runs_by(worker, job: str, *, since=None):
    """The finished runs of `job` written by one of the worker's processes."""
    mine = []
    runs = JobRun.objects.filter(job=job).exclude(status=JobStatus.RUNNING).order_by("pk")
    if since is not None:
        runs = runs.filter(started_at__gt=since)
    for run in runs:
        _, _, pid = run.worker.rpartition(":")
        try:
            group = os.getpgid(int(pid))
        except (ValueError, ProcessLookupError):
            continue
        if group == worker.process.pid:
            mine.append(run)
    return mine


# ---------------------------------------------------------------------------------------------
# The web server: probes, login through the proxy, the HTTPS redirect, dropped connections


def manage(env: dict, *arguments: str) -> subprocess.CompletedProcess:
    """`python manage.py …` as the operator runs it, with the environment file's variables."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def test_the_deploy_checks_pass_and_the_probes_answer_once_a_worker_and_beat_run(
    production_env, start_web, start_worker, start_beat
):
    # the README's check before starting the processes
    checked = manage(production_env, "check", "--deploy")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr

    web = start_web()

    # the process is alive, whether probed directly or through the proxy
    assert web.probe("/healthz").status_code == 200
    assert web.get("/healthz").status_code == 200
    # but not ready while no worker and no beat runs
    assert web.probe("/readyz").status_code == 503

    # once a worker and beat run, ready
    worker = start_worker()
    beat = start_beat()
    wait_for(
        lambda: web.probe("/readyz").status_code == 200,
        timeout=WAIT,
        what="/readyz to answer 200",
        interval=0.5,
        logs=[web.process.log, worker.log, beat.log],
    )
    assert web.get("/readyz").status_code == 200


@pytest.fixture
def member(db):
    """A member who logs in with a password hashed as production hashes it (PBKDF2)."""
    enterprise = factories.EnterpriseFactory(name="宏远制造有限公司", code="hongyuan")
    member = factories.MemberFactory(
        enterprise=enterprise, name="林志远", user__username="lin.zhiyuan@hongyuan"
    )
    hasher = PBKDF2PasswordHasher()
    member.user.password = hasher.encode(PASSWORD, hasher.salt())
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


def web_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'exitdesk-web'"
        )
        return cursor.fetchone()[0]


def pages_until_every_worker_is_connected(web: Web, workers: int) -> list[int]:
    """Requests pages, a few at once so that every gunicorn worker takes some, until each worker
    holds a database connection; their statuses."""
    statuses = []

    def connected(pool) -> bool:
        statuses.extend(pool.map(lambda _: web.get("/").status_code, range(2 * workers)))
        return web_connections() == workers

    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        wait_for(
            lambda: connected(pool),
            timeout=WAIT,
            what=f"each of the {workers} gunicorn workers to hold a database connection",
            interval=0,
            logs=[web.process.log],
        )
    return statuses


def test_a_dropped_database_connection_costs_no_500(start_web, member):
    web = start_web(workers=2)
    log_in(web, "lin.zhiyuan@hongyuan", PASSWORD)
    # both gunicorn workers hold a connection, kept between requests (CONN_MAX_AGE)
    assert set(pages_until_every_worker_is_connected(web, 2)) == {200}

    # when every connection of the web server is dropped (a failover, a restart)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'exitdesk-web'"
        )
        assert len(cursor.fetchall()) == 2
    wait_for(lambda: web_connections() == 0, timeout=WAIT, what="the connections to be dropped")

    # then every page answers, until both workers have connected again
    statuses = pages_until_every_worker_is_connected(web, 2)
    assert set(statuses) == {200}, statuses


# ---------------------------------------------------------------------------------------------
# The worker and beat


def test_a_task_sent_by_beat_runs_and_writes_its_run_and_a_second_beat_is_refused(
    production_env, start_worker, start_beat, tmp_path
):
    every(GRACE_JOB, 1)
    worker = start_worker()
    beat = start_beat()
    logs = [worker.log, beat.log]

    # a task beat sends runs on the worker, which writes its run
    wait_for(
        lambda: runs_by(worker, GRACE_JOB),
        timeout=WAIT,
        what=f"a run of {GRACE_JOB} written by the worker",
        logs=logs,
    )
    run = runs_by(worker, GRACE_JOB)[0]
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {"all": {"windows_closed": 0}}

    # a second beat exits at once, saying why
    command, env = unit("exitdesk-beat", production_env, tmp_path / "run")
    second = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = second.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        output, _ = second.communicate()
        pytest.fail(f"a second beat ran for {WAIT}s:\n{output[-3000:]}")
    assert second.returncode != 0, output[-3000:]
    assert "Another beat holds the schedule lock" in output, output[-3000:]

    # and the first goes on sending
    refused = timezone.now()
    wait_for(
        lambda: runs_by(worker, GRACE_JOB, since=refused),
        timeout=WAIT,
        what=f"a run of {GRACE_JOB} after the second beat was refused",
        logs=logs,
    )
    assert beat.running()


OLD = 4 * retention.CHUNK_SIZE  # chats past the policy: four chunks
RECENT = 300  # chats the floor keeps
# Scaled down for the test: a chunk sent but not done is sent again after this many seconds (15
# minutes in production), by the coordinator's next run (every 15 minutes in production).
RESEND = 4
COORDINATOR_EVERY = 2


@pytest.fixture
def row_lock(production_env):
    """Holds a row locked (`SELECT … FOR UPDATE` in a transaction of a connection of its own)
    until `.release()` or the end of the test: whatever writes that row waits meanwhile."""

    class RowLock:
        connection = None

        def take(self, model, pk: int) -> None:
            self.connection = psycopg.connect(production_env["DATABASE_URL"])
            table = model._meta.db_table
            self.connection.execute(f'SELECT 1 FROM "{table}" WHERE id = %s FOR UPDATE', [pk])

        def release(self) -> None:
            if self.connection is not None:
                self.connection.rollback()
                self.connection.close()
                self.connection = None

    lock = RowLock()
    yield lock
    lock.release()


def worker_waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'exitdesk-worker' AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_mid_chunk_and_started_again_finishes_the_night_within_it(
    start_worker, start_beat, row_lock
):
    # given an enterprise whose night it is, its chats past the policy in four chunks
    enterprise = night_enterprise("丙公司")
    old = chats(enterprise, OLD, days_old=400)
    recent = chats(enterprise, RECENT, days_old=30)
    chunks = JobChunk.objects.filter(job=retention.JOB, enterprise=enterprise)
    runs = JobRun.objects.filter(job=retention.JOB).order_by("pk")
    # the chunk of the first of them is held in the middle of its work: that record is locked
    row_lock.take(WorkRecord, old[0])

    # when beat sends the nightly coordinator, which plans the chunks and sends them
    every(retention.JOB, 1, one_off=True)
    first = start_worker("worker", EXITDESK_CHUNK_RESEND_SECONDS=str(RESEND))
    beat = start_beat()
    logs = [first.log, beat.log]
    wait_for(
        lambda: runs.exclude(status=JobStatus.RUNNING).exists(),
        timeout=WAIT,
        what="the coordinator's run",
        logs=logs,
    )
    # then its run says it waits for its chunks
    planned = runs.get()
    assert planned.status == JobStatus.PARTIAL, (planned.status, planned.counts, planned.errors)
    total = chunks.count()
    assert total >= OLD // retention.CHUNK_SIZE
    assert planned.counts[str(enterprise.pk)]["chunks_sent"] == total

    # when the worker is killed (SIGKILL, the whole worker) in the middle of that chunk
    wait_for(
        worker_waiting_for_a_lock,
        timeout=WAIT,
        what="the worker to be in the middle of the chunk",
        logs=logs,
    )
    first.kill()
    row_lock.release()
    lo = (old[0] - 1) // retention.CHUNK_SIZE * retention.CHUNK_SIZE + 1
    held = chunks.get(key__endswith=f":{lo}-{lo + retention.CHUNK_SIZE - 1}")
    assert held.done_at is None

    # and started again, the coordinator coming again as scheduled
    second = start_worker("worker-again", EXITDESK_CHUNK_RESEND_SECONDS=str(RESEND))
    logs.append(second.log)
    every(retention.JOB, COORDINATOR_EVERY)

    # then the night's work is finished
    wait_for(
        lambda: NightlyMark.objects.filter(job=retention.JOB, enterprise=enterprise).exists(),
        timeout=WAIT,
        what="the night of the enterprise to be finished",
        interval=0.5,
        logs=logs,
    )
    mark = NightlyMark.objects.get(job=retention.JOB, enterprise=enterprise)
    night = chunks.first().key.split(":")[0]
    # within the same night: the local date the chunks were planned for, a night hour
    local = timezone.localtime(mark.done_at, timezone=enterprise.time_zone)
    assert mark.local_date.isoformat() == night
    assert 1 <= local.hour <= 5
    # the chunks lost with the worker sent again (Redis would give them back only after its
    # visibility timeout, 15 minutes)
    assert not chunks.filter(done_at__isnull=True).exists()
    held.refresh_from_db()
    assert held.attempts >= 2
    # each chunk done once, nothing twice: the data as one clean run leaves it
    assert records_in(enterprise, old) == 0
    assert records_in(enterprise, recent) == RECENT
    assert chunks.count() == total
    assert len(retention_events(enterprise)) == total
    assert sum(chunk.counts["purged"] for chunk in chunks) == OLD

    # and the runs tell it truly: waiting while chunks were left, one run finishing the night
    # with its totals, succeeded; nothing failed, nothing counted twice
    key = str(enterprise.pk)
    ended = list(runs.exclude(status=JobStatus.RUNNING))
    finishing = [run for run in ended if "purged" in run.counts.get(key, {})]
    assert len(finishing) == 1, [(run.status, run.counts) for run in ended]
    assert finishing[0].status == JobStatus.SUCCEEDED
    totals = finishing[0].counts[key]
    assert totals["purged"] == OLD and totals["chunks"] == total
    assert totals["chunks_left"] == 0 and totals["chats_within_floor_touched"] == 0
    for run in ended:
        if run.counts.get(key, {}).get("chunks_left"):
            assert run.status == JobStatus.PARTIAL, (run.status, run.counts)
    assert not JobRun.objects.filter(
        job__in=[retention.JOB, retention.CHUNK_JOB], status=JobStatus.FAILED
    ).exists()
