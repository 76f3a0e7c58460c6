"""Real `celery worker` processes against Redis and PostgreSQL (the issue's integration tests).

- `redis_url`: a Redis database of its own for the test (one of `DATABASES`, taken with a lock key
  so that parallel test processes and sessions never share one), emptied before and after.
- `worker_env`: the environment a worker needs to reach the test's own PostgreSQL database (the
  test is transactional: what it writes is committed, and the workers see it) and that Redis
  database, as broker and result backend.
- `cache_url`: a second Redis database of the test's own, for Django's cache (`CACHE_URL`).
- `start_process(name, argv, env=…, ready=…)`: any command (gunicorn, a worker, beat), started in a
  process group of its own, its output in a log file, waited for until `ready(process)`; every
  one is killed (SIGKILL to its group) at the end of the test, before the database is flushed.
  `.kill()` kills it earlier.
- `start_worker(name)`: a `celery worker` (solo pool, no mingle or gossip, no heartbeat unless
  `heartbeat=True`) so started.
- `sender`: a Celery app on that Redis database, to send tasks by name and read their results.

The tests skip without Redis or PostgreSQL (REQUIRE_SERVICES=1 makes that a failure). PostgreSQL:
DATABASE_URL=postgres://…; Redis: INTEGRATION_REDIS_URL, else the host of a redis://
CELERY_BROKER_URL, else redis://127.0.0.1:6379.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from tests.conftest import skip_or_fail

BASE_DIR = Path(settings.BASE_DIR)
CELERY = str(Path(sys.executable).with_name("celery"))
DATABASES = range(8, 16)  # the Redis databases these tests may take
LOCK = "exitdesk:integration:lock"
READY_TIMEOUT = 30


def redis_server() -> str:
    url = os.environ.get("INTEGRATION_REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        url = "redis://127.0.0.1:6379"
    parts = urlsplit(url)
    return f"redis://{parts.netloc}"


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.1, logs=()):
    """Poll `condition` until it returns something true; fail with the workers' logs if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    tails = "\n".join(f"--- {log}:\n{Path(log).read_text()[-3000:]}" for log in logs)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{tails}")


@contextmanager
def redis_database():
    """A Redis database (one of DATABASES) taken with a lock key, emptied before and after."""
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a requirement
        skip_or_fail("the redis client is not installed")
    server = redis_server()
    token = uuid.uuid4().hex
    for number in DATABASES:
        client = redis.Redis.from_url(f"{server}/{number}")
        try:
            taken = client.set(LOCK, token, nx=True, ex=600)
        except redis.exceptions.ConnectionError:
            skip_or_fail(f"these tests need Redis at {server}")
        if taken:
            break
        client.close()
    else:
        pytest.fail(f"every Redis database {DATABASES} of {server} is taken by another test")
    for key in client.scan_iter():
        if key != LOCK.encode():
            client.delete(key)
    try:
        yield f"{server}/{number}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_url():
    with redis_database() as url:
        yield url


@pytest.fixture
def cache_url(redis_url):
    with redis_database() as url:
        yield url


@pytest.fixture
def worker_env(transactional_db, redis_url):
    if connection.vendor != "postgresql":
        skip_or_fail("these tests need PostgreSQL (set DATABASE_URL)")
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{credentials}@{host}{port}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "PYTHONPATH": str(BASE_DIR),
        "LOG_LEVEL": "WARNING",
    }


class Process:
    def __init__(self, name: str, process: subprocess.Popen, log: Path):
        self.name, self.process, self.log = name, process, log

    def output(self) -> str:
        return self.log.read_text()

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process's whole group: no warm shutdown, nothing acknowledged."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)


@pytest.fixture
def start_process(transactional_db, tmp_path):
    """Started after the database fixture, so killed before the database is flushed."""
    processes: list[Process] = []

    def start_process(name: str, argv: list[str], *, env: dict, ready) -> Process:
        log = tmp_path / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                argv,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        started = Process(name, process, log)
        processes.append(started)
        wait_for(
            lambda: not started.running() or ready(started),
            timeout=READY_TIMEOUT,
            what=f"{name} to be ready",
            logs=[log],
        )
        if not started.running():
            pytest.fail(f"{name} exited:\n{started.output()[-3000:]}")
        return started

    yield start_process
    for process in processes:
        process.kill()


@pytest.fixture
def start_worker(worker_env, start_process):
    def start_worker(name: str, *, heartbeat: bool = False) -> Process:
        return start_process(
            name,
            [
                CELERY,
                "-A",
                "config.celery:app",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                *([] if heartbeat else ["--without-heartbeat"]),
                "--without-mingle",
                "--without-gossip",
                "-Q",
                "celery",
                "-n",
                f"{name}@%h",
                "--loglevel=INFO",
            ],
            env=worker_env,
            ready=lambda worker: " ready." in worker.output(),
        )

    return start_worker


@pytest.fixture
def sender(redis_url, monkeypatch):
    """Sends tasks by name to the test's Redis database and reads their results. (Celery prefers
    CELERY_BROKER_URL and friends from the environment to any app's own settings: they are
    removed for the test.)"""
    for name in (
        "CELERY_BROKER_URL",
        "CELERY_BROKER_READ_URL",
        "CELERY_BROKER_WRITE_URL",
        "CELERY_RESULT_BACKEND",
    ):
        monkeypatch.delenv(name, raising=False)
    app = Celery("exitdesk-integration", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    yield app
    app.close()
