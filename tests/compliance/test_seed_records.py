"""Demo work records (`seed_demo --records N`, compliance.demo.seed_records): N per member,
believable, spread over about three years, set-based, and never twice."""

import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.choices import DocumentType, RecordCategory
from compliance.demo import seed_records
from compliance.models import WorkRecord
from directory.choices import DataRegion
from directory.models import Enterprise, Member
from tests import factories
from tests.compliance.conftest import records_of

pytestmark = pytest.mark.django_db

DEMO = "示例科技有限公司"


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def members_of(enterprise, n):
    return [factories.MemberFactory(enterprise=enterprise) for _ in range(n)]


def test_seed_demo_gives_every_member_n_records():
    # when
    output = seed("--members", "6", "--records", "5")

    # then each member has five records, in their own data region
    enterprise = Enterprise.objects.get(name=DEMO)
    per_member = (
        Member.objects.filter(enterprise=enterprise)
        .annotate(records=Count("work_records"))
        .values_list("records", flat=True)
    )
    assert list(per_member) == [5] * 6
    assert "Work records added: 30" in output
    mismatched = WorkRecord.objects.exclude(data_region=DataRegion.CN)
    assert not mismatched.exists()
    assert not WorkRecord.objects.exclude(enterprise=enterprise).exists()


def test_seed_demo_again_adds_no_records():
    seed("--members", "4", "--records", "3")
    before = WorkRecord.objects.count()

    output = seed("--members", "4", "--records", "3")

    assert WorkRecord.objects.count() == before == 12
    assert "Work records added: 0" in output


def test_seed_demo_tops_up_only_new_members_records():
    seed("--members", "3", "--records", "2")

    seed("--members", "5", "--records", "2")

    assert WorkRecord.objects.count() == 10


def test_seed_demo_without_records_adds_none():
    output = seed("--members", "3")

    assert not WorkRecord.objects.exists()
    assert "Work records" not in output


@pytest.mark.parametrize("value", ["-1", "10001"])
def test_seed_demo_refuses_a_bad_record_count(value):
    with pytest.raises(CommandError, match="--records must be"):
        seed("--members", "3", "--records", value)

    assert not Enterprise.objects.exists()


def test_records_are_in_each_members_data_region(enterprise):
    at_home, abroad = members_of(enterprise, 2)
    abroad.data_region = DataRegion.SG
    abroad.save(update_fields=["data_region"])

    seed_records(enterprise, per_member=4, rng=random.Random(1), progress=False)

    assert set(WorkRecord.objects.filter(owner=at_home).values_list("data_region", flat=True)) == {
        DataRegion.CN
    }
    assert set(WorkRecord.objects.filter(owner=abroad).values_list("data_region", flat=True)) == {
        DataRegion.SG
    }


def test_members_who_have_records_are_skipped(enterprise):
    seeded, fresh = members_of(enterprise, 2)
    records_of(seeded, 1)

    created = seed_records(enterprise, per_member=3, rng=random.Random(1), progress=False)

    assert created == 3
    assert WorkRecord.objects.filter(owner=seeded).count() == 1
    assert WorkRecord.objects.filter(owner=fresh).count() == 3


def test_records_are_believable_and_spread_over_three_years(enterprise):
    # given
    members_of(enterprise, 3)

    # when
    seed_records(enterprise, per_member=200, rng=random.Random(7), progress=False)

    # then every category is there, with labour contracts and wage records among the files…
    rows = list(WorkRecord.objects.values("category", "document_type", "content", "created_at"))
    assert {row["category"] for row in rows} == set(RecordCategory.values)
    files = [row for row in rows if row["category"] == RecordCategory.FILE]
    contracts = [row for row in files if row["document_type"] == DocumentType.LABOUR_CONTRACT]
    wages = [row for row in files if row["document_type"] == DocumentType.WAGE_RECORD]
    assert contracts and all("劳动合同" in row["content"] for row in contracts)
    assert wages and all("工资条" in row["content"] for row in wages)
    attendance = [row for row in rows if row["category"] == RecordCategory.ATTENDANCE]
    assert all("打卡" in row["content"] for row in attendance)
    # …and the ages run from recent to older than two years, none in the future
    now = timezone.now()
    ages = [now - row["created_at"] for row in rows]
    assert all(timedelta(0) <= age <= timedelta(days=1100) for age in ages)
    assert any(age < timedelta(days=180) for age in ages)
    assert any(timedelta(days=183) < age < timedelta(days=730) for age in ages)
    assert any(age > timedelta(days=731) for age in ages)


def test_the_same_seed_builds_the_same_records(enterprise):
    members_of(enterprise, 2)

    def contents():
        return list(
            WorkRecord.objects.order_by("pk").values_list(
                "owner_id", "category", "document_type", "content"
            )
        )

    seed_records(enterprise, per_member=10, rng=random.Random("same"), progress=False)
    first = contents()
    WorkRecord.objects.all().delete()
    seed_records(enterprise, per_member=10, rng=random.Random("same"), progress=False)

    assert contents() == first


def test_seeding_records_is_set_based(enterprise, other_enterprise):
    # given two enterprises of three members each
    members_of(enterprise, 3)
    members_of(other_enterprise, 3)

    # when one gets 2 records per member and the other 25 (kept within one INSERT even where
    # the database takes fewest parameters, SQLite's 999)
    with CaptureQueriesContext(connection) as few:
        seed_records(enterprise, per_member=2, rng=random.Random(1), progress=False)
    with CaptureQueriesContext(connection) as many:
        seed_records(other_enterprise, per_member=25, rng=random.Random(1), progress=False)

    # then both took as many queries
    assert WorkRecord.objects.filter(enterprise=other_enterprise).count() == 75
    assert len(many) == len(few)
