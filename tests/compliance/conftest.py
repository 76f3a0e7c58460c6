"""Shared fixtures and helpers of the compliance tests.

`records_of(member, n, category=...)` builds a member's work records in one insert;
`audit_triggers_lifted()` lets a test tamper with the audit trail as someone with the database's
owner rights could. Other test modules may import them (`from tests.compliance.conftest import
records_of`).
"""

import importlib
from contextlib import contextmanager

import pytest
from django.db import connection
from django.utils import timezone

from compliance.choices import RecordCategory
from compliance.models import WorkRecord
from directory.choices import StaffRole
from tests import factories


def records_of(member, n: int, *, category=RecordCategory.CHAT, **fields) -> list[WorkRecord]:
    """`n` work records owned by `member` (one insert), each with its own recognizable content
    ("<category> <member pk>-<i>: 工作记录内容"), created now and in the member's data region
    unless `fields` say otherwise (fields apply to every record)."""
    fields.setdefault("created_at", timezone.now())
    fields.setdefault("data_region", member.data_region)
    content = fields.pop("content", None)
    return WorkRecord.objects.bulk_create(
        WorkRecord(
            enterprise_id=member.enterprise_id,
            owner=member,
            category=category,
            content=content if content is not None else f"{category} {member.pk}-{i}: 工作记录内容",
            **fields,
        )
        for i in range(n)
    )


@contextmanager
def audit_triggers_lifted():
    """The audit tables' triggers (compliance migrations 0002 and 0004) lifted for the block, for
    the test's transaction only. PostgreSQL: `session_replication_role = replica` fires no
    ordinary trigger (SET LOCAL). SQLite, which has no such switch: the triggers are dropped and
    created again after the block."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")
        return
    triggers = importlib.import_module(
        "compliance.migrations.0004_audit_head_protected_and_sqlite_triggers"
    ).SQLITE_TRIGGERS
    with connection.cursor() as cursor:
        for name in triggers:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for create in triggers.values():
                cursor.execute(create)


@pytest.fixture
def member(enterprise):
    """A member of the enterprise (in its data region)."""
    return factories.MemberFactory(enterprise=enterprise, name="张伟", employee_number="E100001")


@pytest.fixture
def other_enterprise(db):
    return factories.EnterpriseFactory(name="另一家公司")


@pytest.fixture
def other_compliance_user(other_enterprise):
    """A Compliance user of another enterprise."""
    return factories.StaffFactory(
        username="compliance_elsewhere", enterprise=other_enterprise, role=StaffRole.COMPLIANCE
    )
