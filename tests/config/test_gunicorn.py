"""gunicorn started as the README says (`gunicorn -c config/gunicorn.py config.wsgi`): it listens
where GUNICORN_BIND says, writes an access line per request with the client and the request id,
leaves the health probes out, and puts its control socket in the runtime directory."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from config.gunicorn_logging import ACCESS_LOG_FORMAT, AccessLogger

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "scrape-token-for-the-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.fixture
def start_gunicorn(tmp_path):
    started = []

    def start(log_format, **more):
        port = free_port()
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "RUNTIME_DIRECTORY": str(tmp_path),
            "LOG_FORMAT": log_format,
            # /metrics answers without a database: a page to ask for.
            "METRICS_TOKEN": TOKEN,
            **more,
        }
        environment.pop("EXITDESK_PROCESS", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"gunicorn did not start: {process.communicate()[1][-3000:]}")
                time.sleep(0.2)
        return SimpleNamespace(process=process, url=f"http://127.0.0.1:{port}")

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def stop(server) -> tuple[str, str]:
    server.process.send_signal(signal.SIGTERM)
    out, err = server.process.communicate(timeout=60)
    return out, err


def test_the_access_log_names_the_request_id_and_client_and_leaves_probes_out(
    start_gunicorn, tmp_path
):
    server = start_gunicorn("console")

    status, headers = get(
        f"{server.url}/metrics", **{"X-Request-ID": "access-42", "Authorization": f"Bearer {TOKEN}"}
    )
    get(f"{server.url}/healthz")
    get(f"{server.url}/readyz")
    control_socket_there = (tmp_path / "gunicorn.ctl").is_socket()
    out, err = stop(server)

    assert status == 200
    assert headers["X-Request-ID"] == "access-42"
    [line] = [x for x in out.splitlines() if "request_id=access-42" in x]
    assert "client=127.0.0.1" in line
    assert 'request="GET /metrics HTTP/1.1"' in line
    assert "status=200" in line
    assert "healthz" not in out and "readyz" not in out
    assert control_socket_there
    assert "Control socket listening at " + str(tmp_path / "gunicorn.ctl") in err
    assert not (tmp_path / "gunicorn.ctl").exists()  # removed at the end


def test_the_access_log_in_json(start_gunicorn):
    server = start_gunicorn("json")

    get(f"{server.url}/metrics?x=1", **{"X-Request-ID": "json-7", "X-Forwarded-For": "10.1.2.3"})
    out, err = stop(server)

    [line] = [json.loads(x) for x in out.splitlines() if "json-7" in x]
    assert line["request_id"] == "json-7"
    assert line["client"] == "127.0.0.1"
    assert line["forwarded_for"] == "10.1.2.3"
    assert line["method"] == "GET"
    assert line["path"] == "/metrics"
    assert line["query"] == "x=1"
    assert line["status"] == 401
    assert line["timestamp"].endswith("Z")
    # gunicorn's own lines are JSON too.
    assert any(json.loads(x)["logger"] == "gunicorn.error" for x in err.splitlines() if x)


def test_metrics_of_every_worker_in_one_scrape(start_gunicorn, tmp_path):
    shared = tmp_path / "metrics"
    shared.mkdir()
    server = start_gunicorn("console", GUNICORN_WORKERS="3", PROMETHEUS_MULTIPROC_DIR=str(shared))

    for _ in range(8):
        get(f"{server.url}/metrics", Authorization=f"Bearer {TOKEN}")
    request = urllib.request.Request(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        scraped = response.read().decode()
    stop(server)

    counts = [
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith('django_http_requests_total_by_method_total{method="GET"}')
    ]
    assert counts == [9.0]  # the eight before, and this one, whichever worker served each
    assert list(shared.glob("counter_*.db"))


# ---------------------------------------------------------------------------------------------
# The logger class alone, with a made-up request


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def access_lines():
    kept = Kept()
    kept.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("gunicorn.access")
    logger.addHandler(kept)
    yield kept.lines
    logger.removeHandler(kept)
    # What the logger class set up for gunicorn stays with gunicorn's test.
    for name in ("gunicorn.access", "gunicorn.error"):
        for handler in list(logging.getLogger(name).handlers):
            if getattr(handler, "_gunicorn", False):
                logging.getLogger(name).removeHandler(handler)


def made_up_request(path):
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.9",
    }
    response = SimpleNamespace(
        status="200 OK", sent=12, headers=[("Content-Type", "text/plain"), ("X-Request-ID", "r-1")]
    )
    request = SimpleNamespace(headers=[("HOST", "exitdesk.example.cn")])
    return response, request, environ


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_the_logger_class_skips_the_probes_only(monkeypatch, access_lines, log_format):
    monkeypatch.setenv("LOG_FORMAT", log_format)
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = AccessLogger(config)

    for path in ("/healthz", "/readyz", "/readyz/", "/exits/"):
        logger.access(*made_up_request(path), timedelta(milliseconds=5))

    [line] = access_lines
    assert "/exits/" in line
    assert "192.0.2.9" in line
    assert "r-1" in line
