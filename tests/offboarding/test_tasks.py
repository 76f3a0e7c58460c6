"""The exit workflow's Celery tasks: thin, idempotent, and scheduled by a data migration."""

import importlib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app
from directory.models import ExternalContact
from offboarding import inheritance, tasks
from offboarding.choices import InheritanceStatus
from offboarding.models import InheritanceItem
from tests import factories

pytestmark = pytest.mark.django_db


def _run_schedule_migration():
    """The data migration's own function, run against the current models (a transactional test
    elsewhere in the run may have flushed the rows `migrate` wrote)."""
    migration = importlib.import_module("offboarding.migrations.0004_settle_inheritance_schedule")
    migration.create_schedule(django_apps, None)


def test_settle_inheritance_is_scheduled_every_ten_minutes_by_its_migration():
    PeriodicTask.objects.filter(name="offboarding.settle_inheritance").delete()
    _run_schedule_migration()
    task = PeriodicTask.objects.get(name="offboarding.settle_inheritance")
    assert task.task == "offboarding.settle_inheritance"
    assert (task.interval.every, task.interval.period) == (10, "minutes")
    assert task.enabled
    assert "offboarding.settle_inheritance" in app.tasks


def test_a_schedule_edited_in_the_admin_is_not_overwritten_by_the_migration():
    PeriodicTask.objects.filter(name="offboarding.settle_inheritance").delete()
    _run_schedule_migration()
    task = PeriodicTask.objects.get(name="offboarding.settle_inheritance")
    task.interval = IntervalSchedule.objects.create(every=30, period="minutes")
    task.save()
    _run_schedule_migration()
    task = PeriodicTask.objects.get(name="offboarding.settle_inheritance")
    assert (task.interval.every, task.interval.period) == (30, "minutes")


def test_settle_inheritance_finishes_the_handovers_whose_acceptance_period_ended(
    exit_in_handover, member, manager, hr_user
):
    # given a member's customers handed over to their manager, waiting 24 hours
    factories.ExternalContactFactory.create_batch(3, enterprise=member.enterprise, owner=member)
    exit_case = exit_in_handover(member)
    inheritance.inherit(exit_case, actor=hr_user, successor=manager)
    items = InheritanceItem.objects.filter(batch__exit_case=exit_case)
    assert set(items.values_list("status", flat=True)) == {InheritanceStatus.WAITING}
    # when the task runs before the period ends, nothing settles
    assert tasks.settle_inheritance() == 0
    # when it runs after, every item is done; and a second run does nothing more
    later = timezone.now() + member.enterprise.customer_acceptance_period + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert tasks.settle_inheritance() == 3
        assert tasks.settle_inheritance() == 0
    assert set(items.values_list("status", flat=True)) == {InheritanceStatus.DONE}
    assert ExternalContact.objects.filter(owner=manager).count() == 3


def test_expire_grace_windows_is_scheduled_every_five_minutes_by_its_migration():
    # given no schedule (a transactional test elsewhere may have flushed it)
    PeriodicTask.objects.filter(name="offboarding.expire_grace_windows").delete()
    # when the data migration runs, twice
    migration = importlib.import_module("offboarding.migrations.0007_expire_grace_windows_schedule")
    migration.create_schedule(django_apps, None)
    migration.create_schedule(django_apps, None)
    # then the task runs every five minutes, once
    task = PeriodicTask.objects.get(name="offboarding.expire_grace_windows")
    assert task.task == "offboarding.expire_grace_windows"
    assert (task.interval.every, task.interval.period) == (5, "minutes")
    assert task.enabled
    assert "offboarding.expire_grace_windows" in app.tasks
