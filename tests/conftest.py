import os

import pytest
from django.db import connection

from tests import factories

# Browser tests drive a live server from the test thread (Playwright's sync API runs an event loop).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

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
    from directory.permissions import grant_access

    user = factories.StaffUserFactory(username="hr")
    grant_access(user=user, enterprise=enterprise, role="hr")
    return user


@pytest.fixture
def it_user(enterprise):
    """A staff user granted the enterprise as IT, with the IT group's permissions."""
    from directory.permissions import grant_access

    user = factories.StaffUserFactory(username="it")
    grant_access(user=user, enterprise=enterprise, role="it")
    return user


@pytest.fixture
def hr_client(client, hr_user):
    client.force_login(hr_user)
    return client
