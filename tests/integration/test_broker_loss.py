"""A worker whose Redis connections are cut (`CLIENT KILL` of every client on the test's own Redis
database) reconnects and goes on taking tasks (broker_connection_max_retries = None: it retries
for ever instead of giving up)."""

import pytest
import redis

from offboarding import tasks
from tests.integration.conftest import wait_for
from tests.integration.test_workers import TASK_TIMEOUT, answer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def kill_clients(redis_url: str) -> int:
    """Close every client connection on the test's Redis database (the others' are left)."""
    client = redis.Redis.from_url(redis_url)
    database = client.connection_pool.connection_kwargs.get("db", 0)
    me = client.client_id()
    killed = 0
    for info in client.client_list():
        if int(info["db"]) == database and int(info["id"]) != me:
            killed += client.client_kill_filter(_id=info["id"])
    client.close()
    return killed


def test_a_worker_that_loses_the_broker_reconnects_and_takes_tasks_again(
    start_worker, sender, redis_url
):
    worker = start_worker("reconnecting")
    assert answer(sender, tasks.GRACE_JOB, worker) == 0

    # when its connections to Redis are cut
    assert kill_clients(redis_url) > 0
    wait_for(
        lambda: "Connection to broker lost" in worker.output(),
        timeout=TASK_TIMEOUT,
        what="the worker to notice",
        logs=[worker.log],
    )

    # then it reconnects and answers the next task; it did not exit
    assert answer(sender, tasks.GRACE_JOB, worker) == 0
    assert worker.process.poll() is None
