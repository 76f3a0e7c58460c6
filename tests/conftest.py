import os
from datetime import timedelta

import pytest
from django.db import connection
from hypothesis import settings

from directory.choices import StaffRole
from offboarding import services, workflow
from offboarding.choices import ExitKind, ExitState, Team
from offboarding.models import Exit
from tests import factories

# Browser tests drive a live server from the test thread (Playwright's sync API runs an event loop).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Hypothesis profiles, one per place the tests run. "ci" is Hypothesis's own CI profile (no
# deadline, no example database, derandomized: the same examples on every run, so a failure in CI
# fails the same way when run again) with the full search. "dev" is the quick local run: a third of
# the examples, random ones, so that local runs keep exploring. Neither has a deadline (every
# example goes to the database, whose round trips are slow and uneven) or an example database (no
# .hypothesis/ folder in the tree). CI sets CI=true; HYPOTHESIS_PROFILE=ci runs CI's search here.
settings.register_profile("ci", settings.get_profile("ci"), max_examples=40)
settings.register_profile(
    "dev",
    settings.get_profile("default"),
    max_examples=12,
    deadline=None,
    database=None,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str):
    """Skip for lack of a service, or fail when the run says every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the settings' language. A request activates the language it asks for
    (LocaleMiddleware) and leaves it active in the thread; a test after a Chinese page would
    otherwise read the next test's messages in Chinese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


SCHEDULE_MIGRATIONS = [
    ("offboarding.migrations.0004_settle_inheritance_schedule", "create_schedule"),
    ("offboarding.migrations.0007_expire_grace_windows_schedule", "create_schedule"),
    ("offboarding.migrations.0008_nightly_schedules", "create_schedules"),
    ("offboarding.migrations.0015_send_reminders_schedule", "create_schedule"),
    ("offboarding.migrations.0016_retention_every_quarter_hour", "every_quarter_hour"),
]


@pytest.fixture
def migrated_schedules(db):
    """The periodic tasks as the data migrations create them. A transactional test before this
    one in the same process flushed the database, the migrations' rows included: they are written
    again (each migration leaves alone what exists)."""
    import importlib

    from django.apps import apps

    for module, function in SCHEDULE_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)


_BROWSER_LOOP = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """The browser tests' driver (Playwright's sync API) leaves its event loop marked as running in
    the main thread between its calls, for the rest of the session. Django's async_to_sync (the
    /readyz view, django-health-check's async checks) refuses to run under a running loop, and
    Django's connections are kept per context, which the mark changes: a test outside
    tests/browser/ that comes after them in the same process runs without the mark from before its
    first fixture (its database transaction included) to after its last, and the mark is then put
    back for the driver."""
    import asyncio

    loop = asyncio._get_running_loop()
    if loop is not None and "browser" not in item.path.parts:
        asyncio._set_running_loop(None)
        item.stash[_BROWSER_LOOP] = loop
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    loop = item.stash.get(_BROWSER_LOOP, None)
    if loop is not None:
        import asyncio

        asyncio._set_running_loop(loop)


@pytest.fixture(autouse=True)
def _empty_memory_caches():
    """Every test starts with empty in-process caches: counts kept there (the API's wrong tokens)
    must not carry over from one test to the next. A shared cache (CACHE_URL) is left alone."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    for cache in caches.all():
        if isinstance(cache, LocMemCache):
            cache.clear()


@pytest.fixture
def postgresql(db):
    """For tests that need PostgreSQL itself (row locks across threads, say)."""
    if connection.vendor != "postgresql":
        skip_or_fail("this test needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def enterprise(db):
    return factories.EnterpriseFactory(name="示例科技")


@pytest.fixture
def super_admin(enterprise):
    return factories.SuperAdminFactory(enterprise=enterprise, name="王总")


@pytest.fixture
def hr_user(enterprise):
    """A staff user granted the enterprise as HR, with the HR group's permissions."""
    return factories.StaffFactory(username="hr", enterprise=enterprise, role=StaffRole.HR)


@pytest.fixture
def it_user(enterprise):
    """A staff user granted the enterprise as IT, with the IT group's permissions."""
    return factories.StaffFactory(username="it", enterprise=enterprise, role=StaffRole.IT)


@pytest.fixture
def compliance_user(enterprise):
    """A staff user granted the enterprise as Compliance, with that group's permissions."""
    return factories.StaffFactory(
        username="compliance", enterprise=enterprise, role=StaffRole.COMPLIANCE
    )


@pytest.fixture
def hr_client(client, hr_user):
    client.force_login(hr_user)
    return client


# ---------------------------------------------------------------------------------------------
# Exits: the one way tests build them — opened through the services, moved through the doors.

# `open_exit_for`'s actor when none is named: whoever usually opens that kind of exit.
USUAL_REQUESTER = object()


def refreshed(exit_case: Exit) -> Exit:
    return Exit.objects.get(pk=exit_case.pk)


@pytest.fixture
def open_exit_for(hr_user):
    """Open a draft exit for a member, as the services do it (with the enterprise's checklist).

    `actor` is who opens it: by default the member for a voluntary exit and HR for any other
    kind; None is the system (the HR system's sync). The last working day defaults to two weeks
    from today in the enterprise's time zone.
    """

    def open_exit_for(member, *, kind=ExitKind.VOLUNTARY, actor=USUAL_REQUESTER, **fields) -> Exit:
        fields.setdefault(
            "last_working_day", services.local_today(member.enterprise) + timedelta(days=14)
        )
        if actor is USUAL_REQUESTER:  # the member asks to leave; any other kind is opened by HR
            voluntary = kind in (ExitKind.VOLUNTARY, ExitKind.VOLUNTARY_ADMIN)
            actor = member.user if voluntary else hr_user
        return services.open_exit(member=member, kind=kind, actor=actor, **fields)

    return open_exit_for


@pytest.fixture
def approve_every_step(hr_user):
    """Approve every step still waiting, each by whoever decides it (assignee, else HR)."""

    def approve_every_step(exit_case: Exit) -> Exit:
        exit_case = refreshed(exit_case)
        while exit_case.state == ExitState.PENDING_APPROVAL:
            step = exit_case.approvals.filter(decision="pending").order_by("position").first()
            actor = step.assignee.user if step.assignee else hr_user
            exit_case = workflow.approve(exit_case, actor=actor, comment="同意")
        return exit_case

    return approve_every_step


@pytest.fixture
def exit_in_handover(open_exit_for, approve_every_step):
    """A voluntary exit submitted by its member and approved through the whole chain."""

    def exit_in_handover(member, **fields) -> Exit:
        exit_case = open_exit_for(member, **fields)
        exit_case = workflow.submit(exit_case, actor=member.user)
        return approve_every_step(exit_case)

    return exit_in_handover


@pytest.fixture
def ready_to_complete(hr_user, it_user):
    """Sign off every checklist item a person signs (by its team) and both reviews."""

    def ready_to_complete(exit_case: Exit) -> Exit:
        staff = {Team.HR: hr_user, Team.IT: it_user}
        for item in exit_case.checklist.filter(auto_check="", signed_off_at__isnull=True):
            services.sign_off_item(item, actor=staff[item.team], note="已核对")
        for team, user in staff.items():
            exit_case = refreshed(exit_case)
            if getattr(exit_case, f"{team}_signed_off_at") is None:
                services.sign_off_review(exit_case, actor=user, team=team)
        return refreshed(exit_case)

    return ready_to_complete


@pytest.fixture
def completed_exit(exit_in_handover, ready_to_complete, hr_user):
    def completed_exit(member, **fields) -> Exit:
        exit_case = ready_to_complete(exit_in_handover(member, **fields))
        return workflow.complete(exit_case, actor=hr_user)

    return completed_exit
