import os

import pytest
from django.db import connection
from hypothesis import settings

from directory.choices import StaffRole
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
