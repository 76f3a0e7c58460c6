"""A real worker's log (LOG_FORMAT=json): every line of a task names the task and its id, and
the request id of the request that sent it."""

import json

import pytest
import structlog

from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TASK = "offboarding.expire_grace_windows"


def test_a_workers_task_lines_name_the_task_its_id_and_the_sending_request(
    start_worker, sender, worker_env
):
    worker_env["LOG_FORMAT"] = "json"
    worker = start_worker("logs")

    # sent as a web request sends it (its request id bound by directory/request_log.py)
    with structlog.contextvars.bound_contextvars(request_id="sent-by-req-9", user_id=5):
        result = sender.send_task(TASK)
    assert result.get(timeout=30) == 0

    def lines():
        return [json.loads(x) for x in worker.output().splitlines() if x.startswith("{")]

    wait_for(
        lambda: any(x["event"] == "task_succeeded" for x in lines()),
        timeout=30,
        what="the task's last line",
        logs=[worker.log],
    )
    of_the_task = [x for x in lines() if x.get("task_id") == result.id]
    assert {"task_started", "task_succeeded"} <= {x["event"] for x in of_the_task}
    assert {x["task"] for x in of_the_task} == {TASK}
    assert {(x["request_id"], x["user_id"]) for x in of_the_task} == {("sent-by-req-9", 5)}
    for line in of_the_task:
        assert line["timestamp"].endswith("Z")
        assert line["level"] == "info"
    # The worker's own lines are JSON too, and carry no task once it is done.
    ready = [x for x in lines() if x["event"].endswith(" ready.")]
    assert ready and "task_id" not in ready[0]
