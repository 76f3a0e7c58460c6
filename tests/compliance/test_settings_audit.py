"""Settings that can weaken a guarantee are audit events (C-7): an enterprise's policies, windows,
periods, contact limit, erasure mode, home region and time zone, and a member's data region (it
decides whether an export crosses a border). Changed in the admin, each writes one event with the
values before and after, in the same transaction as the save; saving without a change writes none.
"""

from datetime import timedelta

import pytest
from django import forms
from django.urls import reverse

from compliance import audit
from compliance.models import AuditChainHead, AuditEvent
from directory import services
from directory.choices import DataRegion, ErasureMode, HandoverPolicy, StaffRole
from directory.durations import DurationFormField, DurationInput
from directory.models import Enterprise, Member
from tests import factories
from tests.compliance.conftest import audit_triggers_lifted

pytestmark = pytest.mark.django_db


def form_data(page) -> dict:
    """The admin change page's form as the browser would post it back, unchanged."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if isinstance(field, DurationFormField):  # a number of hours or days
            data.update(duration_data(name, form[name].value()))
            continue
        value = field.prepare_value(form[name].value())
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else str(value)
    return data


def duration_data(name: str, value: timedelta) -> dict:
    number, unit = DurationInput().decompress(value)
    return {f"{name}_0": str(number), f"{name}_1": unit}


def events(enterprise, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(enterprise=enterprise, action=action).order_by("seq"))


def change_enterprise_in_the_admin(client, enterprise, **changes):
    url = reverse("admin:directory_enterprise_change", args=[enterprise.pk])
    data = form_data(client.get(url))
    for name, value in changes.items():
        data.update(duration_data(name, value) if isinstance(value, timedelta) else {name: value})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


# ---------------------------------------------------------------------------------------------
# Enterprise settings

SETTINGS = [
    # (field, value posted, value before in the event, value after in the event)
    ("data_region", DataRegion.SG, "CN", "SG"),
    ("time_zone", "Asia/Singapore", "Asia/Shanghai", "Asia/Singapore"),
    ("undo_window", timedelta(days=30), "1 00:00:00", "30 00:00:00"),
    ("customer_acceptance_period", timedelta(0), "1 00:00:00", "00:00:00"),
    ("customer_limit_per_member", "50000", 20000, 50000),
    ("handover_policy", HandoverPolicy.IMMEDIATE, "grace", "immediate"),
    ("handover_grace_period", timedelta(days=30), "7 00:00:00", "30 00:00:00"),
    ("erasure_mode", ErasureMode.LEVELS, "account", "levels"),
]


@pytest.mark.parametrize(
    "field, posted, before, after", SETTINGS, ids=[setting[0] for setting in SETTINGS]
)
def test_changing_a_setting_in_the_admin_writes_one_event_with_old_and_new(
    hr_client, hr_user, enterprise, field, posted, before, after
):
    # when HR changes one setting on the enterprise's page
    change_enterprise_in_the_admin(hr_client, enterprise, **{field: posted})
    # then the setting is saved, and the trail has one event saying what it was and what it is
    saved = Enterprise.objects.get(pk=enterprise.pk)
    assert services.audit_value(getattr(saved, field)) == after
    (event,) = events(enterprise, "enterprise_settings_changed")
    assert event.data == {"before": {field: before}, "after": {field: after}}
    assert (event.object_type, event.object_id) == ("enterprise", str(enterprise.pk))
    assert event.actor_id == hr_user.pk
    # and the chain stays whole
    assert all(check.whole for check in audit.verify(enterprise.pk))


def test_saving_the_enterprise_without_a_change_writes_no_event(hr_client, enterprise):
    change_enterprise_in_the_admin(hr_client, enterprise)
    assert not AuditEvent.objects.filter(enterprise=enterprise).exists()


def test_renaming_the_enterprise_alone_is_no_settings_event(hr_client, enterprise):
    change_enterprise_in_the_admin(hr_client, enterprise, name="示例科技（新）")
    assert Enterprise.objects.get(pk=enterprise.pk).name == "示例科技（新）"
    assert not events(enterprise, "enterprise_settings_changed")


def test_several_settings_changed_at_once_are_one_event(hr_client, enterprise):
    change_enterprise_in_the_admin(
        hr_client, enterprise, undo_window=timedelta(days=2), erasure_mode=ErasureMode.MODULES
    )
    (event,) = events(enterprise, "enterprise_settings_changed")
    assert event.data == {
        "before": {"undo_window": "1 00:00:00", "erasure_mode": "account"},
        "after": {"undo_window": "2 00:00:00", "erasure_mode": "modules"},
    }


def test_the_door_refuses_who_may_not_change_the_enterprise(enterprise, db):
    it_user = factories.StaffFactory(username="it", enterprise=enterprise, role=StaffRole.IT)
    with pytest.raises(services.DirectoryError, match="may not change this enterprise"):
        services.change_enterprise(enterprise, actor=it_user, undo_window=timedelta(days=30))
    assert Enterprise.objects.get(pk=enterprise.pk).undo_window == timedelta(hours=24)
    assert not AuditEvent.objects.exists()


def test_a_refused_change_writes_no_event(hr_user, enterprise):
    with pytest.raises(services.DirectoryError):
        services.change_enterprise(enterprise, actor=hr_user, undo_window=timedelta(days=-1))
    assert Enterprise.objects.get(pk=enterprise.pk).undo_window == timedelta(hours=24)
    assert not AuditEvent.objects.exists()


def test_a_settings_change_is_refused_while_the_chain_has_lost_its_head(hr_user, enterprise):
    # given a chain whose head was deleted behind the triggers' back
    services.change_enterprise(enterprise, actor=hr_user, undo_window=timedelta(days=2))
    with audit_triggers_lifted():
        AuditChainHead.objects.filter(enterprise=enterprise).delete()
    # then the next change is refused, and nothing changes
    with pytest.raises(services.DirectoryError, match="lost its chain head"):
        services.change_enterprise(enterprise, actor=hr_user, undo_window=timedelta(days=30))
    assert Enterprise.objects.get(pk=enterprise.pk).undo_window == timedelta(days=2)
    assert AuditEvent.objects.filter(enterprise=enterprise).count() == 1


# ---------------------------------------------------------------------------------------------
# A member's data region


@pytest.fixture
def member(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="张伟", data_region=DataRegion.CN)


def change_member_in_the_admin(client, member, **changes):
    url = reverse("admin:directory_member_change", args=[member.pk])
    data = form_data(client.get(url))
    for name, value in changes.items():
        data.update(duration_data(name, value) if isinstance(value, timedelta) else {name: value})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_changing_a_members_data_region_in_the_admin_writes_one_event(
    hr_client, hr_user, enterprise, member
):
    change_member_in_the_admin(hr_client, member, data_region=DataRegion.EU)
    assert Member.objects.get(pk=member.pk).data_region == DataRegion.EU
    (event,) = events(enterprise, "member_data_region_changed")
    assert event.data == {"before": {"data_region": "CN"}, "after": {"data_region": "EU"}}
    assert (event.member_id, event.object_id, event.actor_id) == (
        member.pk,
        str(member.pk),
        hr_user.pk,
    )


def test_saving_a_member_without_a_region_change_writes_no_event(hr_client, enterprise, member):
    change_member_in_the_admin(hr_client, member)
    change_member_in_the_admin(hr_client, member, title="高级工程师")
    assert Member.objects.get(pk=member.pk).title == "高级工程师"
    assert not AuditEvent.objects.filter(enterprise=enterprise).exists()
