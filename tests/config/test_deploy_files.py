"""The deployment files under deploy/, read as a linter would: systemd units, the nginx site, the
Dockerfile and the compose file (no image can be pulled where the tests run, so none is built).
What is checked is what keeps production safe: non-root processes that come back after a failure,
gunicorn on the loopback only, the proxy headers the login lockout relies on, one beat."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR)
DEPLOY = BASE / "deploy"
UNITS = DEPLOY / "systemd"
PROCESSES = {"web": "on-failure", "worker": "always", "beat": "on-failure"}


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: its sections, each key with every value it is given (systemd allows
    a key more than once: Environment=, EnvironmentFile=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate((UNITS / name).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{name}:{number}: not a key=value line"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def environment_of(service: dict[str, list[str]]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in service.get("Environment", []))


# --- systemd ---------------------------------------------------------------------------------


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_runs_as_a_non_root_user_and_comes_back_after_a_failure(process):
    service = unit(f"exitdesk-{process}.service")["Service"]

    assert service["User"] == ["exitdesk"]
    assert service.get("Group", ["exitdesk"]) == ["exitdesk"]
    assert service["Restart"] == [PROCESSES[process]]
    assert service["EnvironmentFile"] == ["/etc/exitdesk/env"]
    assert environment_of(service)["EXITDESK_PROCESS"] == process
    assert environment_of(service)["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


@pytest.mark.parametrize("process", [*PROCESSES, "migrate"])
def test_each_process_is_hardened(process):
    service = unit(f"exitdesk-{process}.service")["Service"]

    assert service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["PrivateTmp"] == ["yes"]
    assert service["CapabilityBoundingSet"] == [""]
    assert "root" not in service["User"] and "0" not in service["User"]


def test_gunicorn_listens_on_the_loopback_with_its_control_socket_in_the_runtime_directory():
    service = unit("exitdesk-web.service")["Service"]

    assert service["ExecStart"] == [
        "/srv/exitdesk/.venv/bin/gunicorn -c config/gunicorn.py config.wsgi"
    ]
    bind = environment_of(service)["GUNICORN_BIND"]
    assert bind.startswith(("127.0.0.1:", "unix:/run/exitdesk/"))
    assert service["RuntimeDirectory"] == ["exitdesk"]


def test_the_worker_and_beat_run_celery_and_beat_is_enabled_once():
    assert unit("exitdesk-worker.service")["Service"]["ExecStart"] == [
        "/srv/exitdesk/.venv/bin/celery -A config worker --loglevel=info"
    ]
    beat = unit("exitdesk-beat.service")
    assert beat["Service"]["ExecStart"] == [
        "/srv/exitdesk/.venv/bin/celery -A config beat --loglevel=info"
    ]
    assert "exactly one" in beat["Unit"]["Description"][0]
    # Beat only in its own unit: the worker never runs an embedded one (-B).
    assert " -B" not in unit("exitdesk-worker.service")["Service"]["ExecStart"][0]


def test_only_the_migrate_job_reads_the_database_owners_url():
    migrate = unit("exitdesk-migrate.service")["Service"]

    assert migrate["Type"] == ["oneshot"]
    assert migrate["ExecStart"] == ["/srv/exitdesk/.venv/bin/python manage.py migrate --noinput"]
    assert migrate["EnvironmentFile"] == ["/etc/exitdesk/env", "/etc/exitdesk/migrate.env"]
    for process in PROCESSES:
        text = (UNITS / f"exitdesk-{process}.service").read_text()
        assert "migrate.env" not in text and "DATABASE_MIGRATE_URL" not in text
    assert "DATABASE_MIGRATE_URL=" in (DEPLOY / "migrate.env.example").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path):
    # The units as installed, with this checkout standing for /srv/exitdesk (systemd-analyze
    # checks that each command exists).
    for path in UNITS.glob("*.service"):
        (tmp_path / path.name).write_text(path.read_text().replace("/srv/exitdesk", str(BASE)))

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Unknown keys and bad values are only warned about: any line naming a unit is a finding.
    findings = [line for line in (result.stdout + result.stderr).splitlines() if ".service" in line]
    assert result.returncode == 0 and findings == [], result.stdout + result.stderr
    assert len(list(tmp_path.glob("*.service"))) == 4


def test_nothing_tells_anyone_to_listen_on_every_interface():
    files = [path for path in DEPLOY.rglob("*") if path.is_file()] + [BASE / "README.md"]
    offenders = [str(path.relative_to(BASE)) for path in files if "0.0.0.0" in path.read_text()]

    assert offenders == []


# --- nginx -----------------------------------------------------------------------------------

NGINX = (DEPLOY / "nginx" / "exitdesk.conf").read_text()
NGINX_DIRECTIVES = re.sub(r"#.*", "", NGINX)  # the comments out


def test_nginx_keeps_the_host_and_sets_the_forwarded_headers_wherever_it_proxies():
    proxies = len(re.findall(r"\bproxy_pass\s", NGINX_DIRECTIVES))

    assert proxies >= 1
    for header in (
        r"proxy_set_header\s+Host\s+\$host;",
        r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;",
        # Set to the peer's address: an X-Forwarded-For the client sent is not kept.
        r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;",
    ):
        assert len(re.findall(header, NGINX_DIRECTIVES)) == proxies, header
    assert "$proxy_add_x_forwarded_for" not in NGINX_DIRECTIVES
    assert "$http_x_forwarded_for" not in NGINX_DIRECTIVES


def test_nginx_serves_tls_and_redirects_plain_http():
    assert re.search(r"listen\s+443\s+ssl;", NGINX_DIRECTIVES)
    assert re.search(r"ssl_certificate\s+\S+;", NGINX_DIRECTIVES)
    plain = NGINX_DIRECTIVES.split("listen 80;")[1].split("}")[0]
    assert re.search(r"return\s+301\s+https://\$host\$request_uri;", plain)


def test_nginx_proxies_to_where_gunicorn_listens():
    bind = environment_of(unit("exitdesk-web.service")["Service"])["GUNICORN_BIND"]

    assert re.search(rf"server\s+{re.escape(bind)};", NGINX_DIRECTIVES)


def test_nginx_takes_the_largest_import_the_application_takes():
    size, unit_letter = re.search(
        r"client_max_body_size\s+(\d+)([km]?);", NGINX_DIRECTIVES
    ).groups()
    limit = int(size) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit_letter]

    assert limit >= settings.DIRECTORY_IMPORT_MAX_UPLOAD_SIZE
    assert limit >= settings.HR_IMPORT_MAX_UPLOAD_SIZE


# --- Dockerfile ------------------------------------------------------------------------------

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in joined.splitlines())
        if line and not line.startswith("#")
    ]


def test_the_image_runs_the_python_the_project_targets():
    targets = tomllib.loads((BASE / "pyproject.toml").read_text())["project"]["requires-python"]
    version = targets.removeprefix(">=")

    assert dockerfile_instructions()[0] == ("FROM", f"python:{version}-slim")


def test_the_image_runs_as_a_non_root_user():
    users = [value for instruction, value in dockerfile_instructions() if instruction == "USER"]

    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    assert users[-1] == "exitdesk"
    # Nothing runs after the switch that would need root.
    instructions = [instruction for instruction, _ in dockerfile_instructions()]
    assert "RUN" not in instructions[instructions.index("USER") :]


def test_the_image_bakes_in_no_secret_and_collects_the_static_files():
    baked = " ".join(
        value for instruction, value in dockerfile_instructions() if instruction in ("ENV", "ARG")
    )

    for name in ("SECRET", "KEYS", "PASSWORD", "DATABASE_URL", "EMAIL_URL"):
        assert name not in baked
    assert any(
        "manage.py collectstatic --noinput" in value
        for instruction, value in dockerfile_instructions()
        if instruction == "RUN"
    )
    assert ("CMD", '["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]') in (
        dockerfile_instructions()
    )


# --- compose ---------------------------------------------------------------------------------

COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def command_of(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_runs_exactly_one_beat():
    beats = [name for name, service in SERVICES.items() if " beat" in command_of(service)]

    assert beats == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert "scale" not in SERVICES["beat"]
    assert all(" -B" not in command_of(service) for service in SERVICES.values())


def test_compose_has_every_process_and_the_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert command_of(SERVICES["web"]) == "gunicorn -c config/gunicorn.py config.wsgi"
    assert command_of(SERVICES["worker"]) == "celery -A config worker --loglevel=info"
    assert command_of(SERVICES["migrate"]) == "python manage.py migrate --noinput"
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["environment"]["EXITDESK_PROCESS"] == name
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_compose_migrates_as_the_owner_and_runs_the_rest_as_the_application_user():
    assert "exitdesk_owner" in SERVICES["migrate"]["environment"]["DATABASE_MIGRATE_URL"]
    for name in ("web", "worker", "beat"):
        environment = SERVICES[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://exitdesk_app:")
        assert "DATABASE_MIGRATE_URL" not in environment


def test_compose_publishes_the_web_on_the_loopback_only_and_probes_it():
    assert SERVICES["web"]["ports"] == ["127.0.0.1:8000:8000"]
    assert SERVICES["web"]["environment"]["GUNICORN_BIND"] == "web:8000"
    assert "/healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert all("ports" not in service for name, service in SERVICES.items() if name != "web")


# --- The environment file --------------------------------------------------------------------

SETTINGS_READ = re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""")
# Read by the settings but not set in production: DJANGO_DEBUG (production is never in debug),
# DATABASE_MIGRATE_URL (deploy/migrate.env.example: only the migrate job reads it).
NOT_IN_THE_ENV_FILE = {"DJANGO_DEBUG", "DATABASE_MIGRATE_URL"}


def test_the_example_environment_names_every_variable_the_settings_read():
    example = (DEPLOY / "env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    read = {
        name
        for module in ("base.py", "production.py")
        for name in SETTINGS_READ.findall((BASE / "config" / "settings" / module).read_text())
    }

    assert read - NOT_IN_THE_ENV_FILE - named == set()
    assert "DATABASE_MIGRATE_URL=" not in re.sub(r"#.*", "", example)


def test_the_example_environment_holds_no_secret():
    assignments = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )

    for name in ("DJANGO_SECRET_KEY", "EXITDESK_MASTER_KEYS", "EXITDESK_AUDIT_KEYS"):
        assert assignments[name] == ""
    for name in ("DATABASE_URL", "EMAIL_URL"):
        assert ":CHANGE-ME@" in assignments[name]
