"""`manage.py bench` (make bench) runs every measured path and leaves the database as it was."""

from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import WorkRecord
from directory.models import Enterprise, Member

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_prints_its_table_and_leaves_nothing_behind():
    # when the benchmark runs at its smallest
    out = StringIO()
    call_command("bench", members=30, records=1, stdout=out)
    # then it printed a row per measured path, with its size, seconds and queries
    table = out.getvalue()
    for operation in (
        "seed the enterprise",
        "admin: members list (HR)",
        "hand over (离职继承)",
        "seal one member's records",
        "retention run",
        "verify the audit chain",
    ):
        assert operation in table
    assert "queries" in table and "seconds" in table
    # and everything it created was rolled back
    assert not Enterprise.objects.exists()
    assert not Member.objects.exists() and not WorkRecord.objects.exists()
