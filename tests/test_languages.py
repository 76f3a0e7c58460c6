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

import zoneinfo
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

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
from tests.scripts import foreign_fragments, world_identifiers
from tests.test_permission_matrix import ask, error_lines

pytestmark = pytest.mark.django_db

SUPER_ADMIN = "super_admin"
WALKERS = (SUPERUSER, HR, EMPLOYEE, MANAGER, SUPER_ADMIN, ANONYMOUS)
LANGUAGES = {"en": LATIN_NAMES, "zh-hans": CHINESE_NAMES}

# Admin pages of libraries whose own text is not translatable into Chinese from here:
# django-celery-beat (its field names are not marked for translation), Django's users and groups
# (permission names are stored in English by Django), django-axes (no Chinese catalogue). They are
# walked in English only.
ENGLISH_ONLY_PAGES = ("admin/django_celery_beat/", "admin/auth/", "admin/axes/")

# The probes answer machines, in plain text (directory/health.py), not people: not pages.
PROBES = ("healthz", "readyz")

# Example values in help texts, spelled as they are typed; time zones by their names (identifiers).
EXAMPLES = {"acme"}
TIME_ZONES = {zone.replace("_", " ") for zone in zoneinfo.available_timezones()}


def client_in(language: str, user) -> Client:
    client = Client(raise_request_exception=False)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_page_reads_in_one_language(language):
    # Built as a person using that language would: what the doors store in the active language
    # (the default checklist's titles) is in it too.
    with translation.override(language):
        world = build_world(LANGUAGES[language])
    users = {**world.users, SUPER_ADMIN: world.super_admin_handover.exit_case.member.user}
    allowed = world_identifiers() | EXAMPLES | TIME_ZONES
    found: dict[str, list[str]] = {}
    errors = []
    for role in WALKERS:
        client = client_in(language, users[role])
        for route in every_route():
            if language != "en" and route.key.startswith(ENGLISH_ONLY_PAGES):
                continue
            if route.key in PROBES:
                continue
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
