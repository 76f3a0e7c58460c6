"""Exactly one beat (directory/beat_lock.py), with real `celery beat` processes on PostgreSQL: a
second beat started while one runs logs that another holds the schedule lock and exits non-zero
within seconds; the first goes on; once the first is gone, a new beat takes the lock."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from directory.beat_lock import REFUSED
from tests.integration.conftest import BASE_DIR, CELERY, READY_TIMEOUT, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HOLDS = "beat holds the schedule lock"


@pytest.fixture
def start_beat(worker_env, tmp_path):
    beats: list[subprocess.Popen] = []

    def start_beat(name: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [CELERY, "-A", "config.celery:app", "beat", "--loglevel=INFO"],
                cwd=BASE_DIR,
                env=worker_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        beats.append(process)
        return process, log

    yield start_beat
    for process in beats:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_second_beat_is_refused_and_says_so_while_the_first_goes_on(start_beat):
    # given a beat that runs and holds the lock
    first, first_log = start_beat("first")
    wait_for(
        lambda: HOLDS in first_log.read_text() or first.poll() is not None,
        timeout=READY_TIMEOUT,
        what="the first beat to take the lock",
        logs=[first_log],
    )
    assert first.poll() is None, first_log.read_text()[-3000:]

    # when a second beat starts, then it exits non-zero within seconds, saying why
    second, second_log = start_beat("second")
    assert second.wait(timeout=READY_TIMEOUT) != 0
    refused = [line for line in second_log.read_text().splitlines() if REFUSED in line]
    assert refused, second_log.read_text()[-3000:]
    assert "error" in refused[0].split(REFUSED)[0].lower()  # logged at ERROR
    # and the first goes on
    assert first.poll() is None

    # when the first beat dies (SIGKILL), then the next one takes the lock at once
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    third, third_log = start_beat("third")
    wait_for(
        lambda: HOLDS in third_log.read_text() or third.poll() is not None,
        timeout=READY_TIMEOUT,
        what="the third beat to take the lock",
        logs=[third_log],
    )
    assert third.poll() is None, third_log.read_text()[-3000:]
