"""Admin lists that do not grow: every changelist a superuser opens runs as many queries for 100
rows as for 10 (no per-row query, whatever the columns show)."""

import datetime
import decimal
import itertools
import uuid

import pytest
from django.contrib import admin
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories

_counter = itertools.count(1)


def _value(field: models.Field, shared: dict):
    """A valid value for a required field of a generic row."""
    n = next(_counter)
    if field.choices:
        return field.flatchoices[0][0]
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        from directory.models import Member

        # A member per row: exits, freezes and handovers are one per member (or between two).
        if isinstance(field, models.OneToOneField) or field.related_model is Member:
            return build_one(field.related_model, shared)
        return shared_instance(field.related_model, shared)
    if isinstance(field, models.EmailField):
        return f"row{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.SlugField):
        return f"row-{n}"
    if isinstance(field, models.CharField | models.TextField):
        return f"row {n}"[: field.max_length or 50]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.localdate()
    if isinstance(field, models.DurationField):
        return datetime.timedelta(days=1)
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(n % 1000) / 100
    if isinstance(field, models.IntegerField | models.FloatField):
        return n
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.BinaryField):
        return b"x"
    if isinstance(field, models.JSONField):
        return {}
    raise NotImplementedError(f"no generic value for {field!r}")


def build_one(model, shared: dict):
    """One row of `model`, with every required field filled (related rows shared when possible)."""
    factory = FACTORIES.get(model)
    if factory is not None:
        return factory(shared)
    return build_generic(model, shared)


def build_generic(model, shared: dict, **given):
    fields = dict(given)
    for field in model._meta.concrete_fields:
        if field.primary_key or field.has_default() or field.null or field.blank:
            if not (field.is_relation and not field.null):
                continue
        if field.name in fields:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        fields[field.name] = _value(field, shared)
    return model.objects.create(**fields)


def shared_instance(model, shared: dict):
    if model not in shared:
        shared[model] = build_one(model, shared)
    return shared[model]


def _enterprise(shared):
    from directory.models import Enterprise

    return shared_instance(Enterprise, shared)


def _member(shared):
    from directory.models import Member

    return shared_instance(Member, shared)


def _owned(factory):
    return lambda shared: factory(owner=factories.MemberFactory(enterprise=_enterprise(shared)))


def _build_factories():
    from django.contrib.auth import get_user_model
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from compliance.models import RetentionPolicy
    from directory import models as directory
    from offboarding.choices import ResourceType
    from offboarding.models import InheritanceBatch, InheritanceItem, SuperAdminHandover

    built = {
        get_user_model(): lambda shared: factories.UserFactory(),
        directory.Enterprise: lambda shared: factories.EnterpriseFactory(),
        directory.Department: lambda shared: factories.DepartmentFactory(
            enterprise=_enterprise(shared)
        ),
        directory.Member: lambda shared: factories.MemberFactory(
            enterprise=_enterprise(shared),
            department=shared_instance(directory.Department, shared),
        ),
        directory.EnterpriseAccess: lambda shared: factories.EnterpriseAccessFactory(
            enterprise=_enterprise(shared)
        ),
    }
    # A policy per enterprise and category: an enterprise per row.
    built[RetentionPolicy] = lambda shared: RetentionPolicy.objects.create(
        enterprise=factories.EnterpriseFactory(),
        category=RetentionPolicy._meta.get_field("category").choices[0][0],
        keep_days=30,
    )
    built[PeriodicTask] = lambda shared: PeriodicTask.objects.create(
        name=f"task {next(_counter)}",
        task="directory.tasks.nothing",
        interval=shared_instance(IntervalSchedule, shared),
    )
    # One handover at a time per enterprise: an enterprise per row.
    built[SuperAdminHandover] = lambda shared: build_generic(SuperAdminHandover, {})
    # A handover per row, of a customer that exists (its name is shown, linked).
    built[InheritanceItem] = lambda shared: build_generic(
        InheritanceItem,
        shared,
        batch=build_one(InheritanceBatch, shared),
        resource_type=ResourceType.EXTERNAL_CONTACT,
        resource_id=_owned(factories.ExternalContactFactory)(shared).pk,
    )
    for factory in factories.OWNED_RESOURCE_FACTORIES:
        built[factory._meta.model] = _owned(factory)
    return built


FACTORIES = {}


def _registered():
    return sorted(
        admin.site._registry,
        key=lambda model: model._meta.label,
    )


@pytest.fixture
def superuser_client(client, db):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def _count_queries(client, url, *, rows: int) -> int:
    """The queries of the list's page, which shows at least `rows` rows in all."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    assert response.context["cl"].result_count >= rows, url
    return len(queries)


@pytest.mark.parametrize("model", _registered(), ids=lambda model: model._meta.label)
def test_changelist_queries_do_not_grow_with_rows(superuser_client, model):
    FACTORIES.update(_build_factories())
    shared = {}
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for _ in range(10):
        build_one(model, shared)
    with_10 = _count_queries(superuser_client, url, rows=10)
    for _ in range(90):
        build_one(model, shared)
    with_100 = _count_queries(superuser_client, url, rows=100)
    assert with_100 == with_10, (
        f"{model._meta.label}: {with_10} queries at 10 rows, {with_100} at 100"
    )
