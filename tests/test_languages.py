"""Every page in each language, without text of the other script (issue 15, item 9).

Every URL pattern the project serves (tests/matrix_world.py's `every_route`, so a page added
later is walked too) is requested with GET in English and in Chinese, as each role that reaches
pages: the superuser (every admin page), HR, the employee, the manager, the leaving super admin,
and anonymous. Each HTML page that answers 200 is checked by `tests.scripts.foreign_fragments`:
in English no CJK characters, in Chinese no English words.

The world is built in the walk's script (tests/matrix_world.py: Latin names in English, Chinese
names in Chinese), so what the check finds is the interface's text, never data. Identifiers the
world holds (usernames, e-mail addresses, employee numbers, codes) are allowed in Chinese.
"""

import logging
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client

from tests.matrix_world import (
    ANONYMOUS,
    CHINESE_NAMES,
    EMPLOYEE,
    HR,
    LATIN_NAMES,
    MANAGER,
    SUPERUSER,
    build_world,
    every_route,
)
from tests.scripts import foreign_fragments
from tests.test_permission_matrix import ask, error_lines

pytestmark = pytest.mark.django_db

SUPER_ADMIN = "super_admin"
WALKERS = (SUPERUSER, HR, EMPLOYEE, MANAGER, SUPER_ADMIN, ANONYMOUS)
LANGUAGES = {"en": LATIN_NAMES, "zh-hans": CHINESE_NAMES}

# Fields whose values are identifiers in any language: allowed on a Chinese page.
IDENTIFIER_FIELDS = frozenset(
    {"username", "email", "employee_number", "code", "external_id", "provider", "key_id"}
)


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    caplog.set_level(logging.ERROR, logger="django.request")
    caplog.set_level(logging.WARNING, logger="axes")


def identifiers() -> set[str]:
    """Every identifier the world holds (see IDENTIFIER_FIELDS)."""
    found = set()
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if field.name in IDENTIFIER_FIELDS and isinstance(field, models.CharField)
        ]
        for name in names:
            for value in model._default_manager.values_list(name, flat=True):
                if value:
                    found.add(value)
                    found.update(value.replace("@", " ").replace(".", " ").split())
    return found


def client_in(language: str, user) -> Client:
    client = Client(raise_request_exception=False)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_page_reads_in_one_language(language):
    world = build_world(LANGUAGES[language])
    users = {**world.users, SUPER_ADMIN: world.super_admin_handover.exit_case.member.user}
    allowed = identifiers()
    found: dict[str, list[str]] = {}
    errors = []
    for role in WALKERS:
        client = client_in(language, users[role])
        for route in every_route():
            path = world.url_for(route)
            _outcome, response = ask(client, "GET", path, watch_writes=False)
            if response.status_code >= 500:
                errors.append(f"GET {path} as {role}: {error_lines(response)}")
                continue
            content_type = response.get("Content-Type", "").split(";")[0]
            if response.status_code != 200 or content_type != "text/html":
                continue
            html = response.content.decode()
            for fragment in foreign_fragments(html, language, allowed=allowed):
                found.setdefault(fragment, []).append(f"{urlsplit(path).path} ({role})")
    report = [f"{fragment}\n      on {', '.join(pages[:3])}" for fragment, pages in found.items()]
    assert not errors, "\n".join(errors)
    assert not found, f"{len(found)} fragments of the other script in {language}:\n" + "\n".join(
        report
    )
