"""An enterprise's periods (undo window, customer acceptance period, emergency window) and a
retention policy's days have a maximum (S-4): past it the form says so beside the field — never a
500 — the database refuses it too, and the maximum itself works end to end."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from compliance.models import MAX_KEEP_DAYS, RetentionPolicy
from directory.models import (
    MAX_CUSTOMER_ACCEPTANCE_PERIOD,
    MAX_HANDOVER_GRACE_PERIOD,
    MAX_UNDO_WINDOW,
    Enterprise,
)
from offboarding.choices import ExitKind
from tests import factories
from tests.offboarding.test_super_admin_handover import confirm, name

pytestmark = pytest.mark.django_db

PERIODS = {
    "undo_window": MAX_UNDO_WINDOW,
    "customer_acceptance_period": MAX_CUSTOMER_ACCEPTANCE_PERIOD,
    "handover_grace_period": MAX_HANDOVER_GRACE_PERIOD,
}


def change_url(enterprise):
    return reverse("admin:directory_enterprise_change", args=[enterprise.pk])


def form_data(client, enterprise, **changes) -> dict:
    """The enterprise's change form as the page shows it, with `changes`."""
    form = client.get(change_url(enterprise)).context["adminform"].form
    data = {}
    for bound in form:
        value = changes.pop(bound.name, bound.value())
        if value is None:
            continue
        if isinstance(value, timedelta):  # entered as a number of hours or days
            number, unit = bound.field.widget.decompress(value)
            data[f"{bound.html_name}_0"], data[f"{bound.html_name}_1"] = str(number), unit
        else:
            data[bound.html_name] = value
    return {**data, **changes}


def test_periods_are_entered_and_shown_in_hours_or_days(hr_client, enterprise):
    # given: the defaults, 24 hours and 7 days
    page = hr_client.get(change_url(enterprise)).content.decode()
    # then: a number and a unit, never "1 day, 0:00:00"
    assert 'name="undo_window_0" value="1"' in page
    assert '<option value="days" selected>' in page
    assert "0:00:00" not in page
    # when: HR enters 36 hours
    response = hr_client.post(
        change_url(enterprise),
        {**form_data(hr_client, enterprise), "undo_window_0": "36", "undo_window_1": "hours"},
    )
    # then
    assert response.status_code == 302
    assert Enterprise.objects.get(pk=enterprise.pk).undo_window == timedelta(hours=36)
    listed = hr_client.get(reverse("admin:directory_enterprise_changelist")).content.decode()
    assert "1 day 12 hours" in listed


def test_durations_read_in_chinese_in_the_chinese_ui():
    from django.utils import translation

    from directory.durations import human_duration

    with translation.override("zh-hans"):
        assert human_duration(timedelta(days=1)) == "1 天"
        assert human_duration(timedelta(hours=36)) == "1 天 12 小时"


def test_each_period_says_its_maximum_in_its_help_text(hr_client, enterprise):
    form = hr_client.get(change_url(enterprise)).context["adminform"].form
    for field, maximum in PERIODS.items():
        assert f"at most {maximum.days} days" in str(form.fields[field].help_text)


@pytest.mark.parametrize("field", PERIODS)
@pytest.mark.parametrize("days", ["999999999", "3000000", "31"])
def test_a_period_past_its_maximum_is_a_form_error(hr_client, enterprise, field, days):
    before = Enterprise.objects.get(pk=enterprise.pk)

    response = hr_client.post(
        change_url(enterprise),
        form_data(hr_client, enterprise, **{field: timedelta(days=int(days))}),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors[field] == [f"At most {PERIODS[field].days} days."]
    assert getattr(Enterprise.objects.get(pk=enterprise.pk), field) == getattr(before, field)


@pytest.mark.parametrize("field", PERIODS)
def test_the_maximum_itself_is_saved(hr_client, enterprise, field):
    maximum = PERIODS[field]

    response = hr_client.post(
        change_url(enterprise),
        form_data(hr_client, enterprise, **{field: maximum}),
    )

    assert response.status_code == 302
    assert getattr(Enterprise.objects.get(pk=enterprise.pk), field) == maximum


@pytest.mark.parametrize("field", PERIODS)
def test_the_database_refuses_a_period_past_its_maximum(enterprise, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        Enterprise.objects.filter(pk=enterprise.pk).update(
            **{field: PERIODS[field] + timedelta(seconds=1)}
        )


def test_an_exit_completes_with_the_longest_undo_window(enterprise, member_of, completed_exit):
    enterprise.undo_window = MAX_UNDO_WINDOW
    enterprise.save(update_fields=["undo_window"])

    exit_case = completed_exit(member_of(enterprise))

    assert exit_case.undo_deadline == exit_case.completed_at + MAX_UNDO_WINDOW


def test_a_handover_is_confirmed_with_the_longest_emergency_window(
    enterprise, super_admin, exit_in_handover
):
    enterprise.handover_grace_period = MAX_HANDOVER_GRACE_PERIOD
    enterprise.save(update_fields=["handover_grace_period"])
    new_admin = factories.MemberFactory(enterprise=enterprise, name="李四")
    exit_in_handover(super_admin, kind=ExitKind.VOLUNTARY_ADMIN)

    done = confirm(name(super_admin, new_admin), new_admin)

    assert done.grace_until == done.confirmed_at + MAX_HANDOVER_GRACE_PERIOD


@pytest.fixture
def member_of(hr_user):
    def member_of(enterprise):
        manager = factories.MemberFactory(enterprise=enterprise, name="经理")
        return factories.MemberFactory(enterprise=enterprise, name="小王", manager=manager)

    return member_of


# Retention policies


@pytest.fixture
def compliance_client(client, compliance_user):
    client.force_login(compliance_user)
    return client


@pytest.mark.parametrize("days", [999999999, MAX_KEEP_DAYS + 1])
def test_a_policy_keeping_records_past_the_maximum_is_a_form_error(
    compliance_client, enterprise, days
):
    response = compliance_client.post(
        reverse("admin:compliance_retentionpolicy_add"),
        {"enterprise": enterprise.pk, "category": "file", "keep_days": days, "action": "purge"},
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["keep_days"] == [
        f"A policy can keep records at most {MAX_KEEP_DAYS} days; to keep them for good, "
        "choose keep."
    ]
    assert f"At most {MAX_KEEP_DAYS} days" in str(form.fields["keep_days"].help_text)
    assert not RetentionPolicy.objects.exists()


def test_the_database_refuses_a_policy_past_the_maximum(enterprise):
    with pytest.raises(IntegrityError), transaction.atomic():
        RetentionPolicy.objects.create(
            enterprise=enterprise, category="file", keep_days=MAX_KEEP_DAYS + 1, action="purge"
        )
