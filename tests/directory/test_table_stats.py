"""Statistics after bulk work (directory/table_stats.py): seeding, imports and a large directory
sync ANALYZE the tables they filled once committed, so the planner knows their size at once."""

import random
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from compliance.demo import seed_records
from compliance.models import WorkRecord
from directory import importing, table_stats
from directory.models import Department, ExternalContact, Member
from tests import factories
from tests.directory.test_directory_import import DEPARTMENTS, MEMBERS, csv_bytes

pytestmark = pytest.mark.django_db


def analyzed(queries) -> list[str]:
    """The tables ANALYZEd in `queries`, in order."""
    return [
        query["sql"].removeprefix("ANALYZE ").strip('"')
        for query in queries.captured_queries
        if query["sql"].startswith("ANALYZE ")
    ]


def planner_row_estimate(model) -> float | None:
    """PostgreSQL's estimate of the table's rows (what ANALYZE leaves in pg_class)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
        )
        return cursor.fetchone()[0]


def test_seeding_analyzes_what_it_filled_once_committed(django_capture_on_commit_callbacks):
    # when
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            call_command("seed_demo", "--members", "30", "--records", "2", stdout=StringIO())
        assert analyzed(queries) == []  # nothing inside the seeding's transaction
        for callback in callbacks:
            callback()

    # then
    tables = analyzed(queries)
    for model in (Member, get_user_model(), Department, ExternalContact, WorkRecord):
        assert model._meta.db_table in tables
    assert Member.history.model._meta.db_table in tables
    if connection.vendor == "postgresql":
        assert planner_row_estimate(Member) == Member.objects.count()
        assert planner_row_estimate(WorkRecord) == WorkRecord.objects.count()


def test_a_rolled_back_seeding_analyzes_nothing(enterprise):
    factories.MemberFactory(enterprise=enterprise)

    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            seed_records(enterprise, per_member=3, rng=random.Random(1), progress=False)
            transaction.set_rollback(True)

    assert analyzed(queries) == []


def test_an_import_analyzes_the_directory_once_committed(
    enterprise, hr_user, django_capture_on_commit_callbacks
):
    tables = [
        *importing.read_tables(csv_bytes(DEPARTMENTS), "csv"),
        *importing.read_tables(csv_bytes(MEMBERS), "csv"),
    ]

    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=True):
            importing.apply(enterprise, tables, actor=hr_user)

    tables = analyzed(queries)
    assert Member._meta.db_table in tables
    assert Department._meta.db_table in tables
    assert ExternalContact._meta.db_table in tables
    assert Member.objects.filter(enterprise=enterprise).count() == 3


def test_analyze_now_runs_at_once_and_names_each_table_once():
    assert table_stats.tables_of(Member, Member, WorkRecord) == [
        Member._meta.db_table,
        Member.history.model._meta.db_table,
        WorkRecord._meta.db_table,
    ]
    with CaptureQueriesContext(connection) as queries:
        assert table_stats.analyze_now(WorkRecord) == [WorkRecord._meta.db_table]

    assert analyzed(queries) == [WorkRecord._meta.db_table]
