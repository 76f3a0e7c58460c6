"""The admin's page count on big tables (directory/admin_paging.py): exact up to a bound, the
planner's estimate beyond it on PostgreSQL, never below what was counted."""

import pytest
from django.urls import reverse

from directory import admin_paging
from directory.admin_paging import EstimatedCountPaginator
from directory.choices import StaffRole
from directory.models import ExternalContact
from directory.permissions import grant_access
from tests import factories


@pytest.fixture
def contacts(enterprise):
    owner = factories.MemberFactory(enterprise=enterprise)
    return ExternalContact.objects.bulk_create(
        ExternalContact(enterprise=enterprise, owner=owner, name=f"客户{n}") for n in range(30)
    )


def test_a_list_within_the_bound_is_counted_exactly(contacts):
    paginator = EstimatedCountPaginator(ExternalContact.objects.order_by("pk"), 10)
    assert paginator.count == 30
    assert paginator.num_pages == 3


def test_a_longer_list_is_numbered_by_the_planners_estimate_on_postgresql(
    postgresql, contacts, monkeypatch
):
    # given a bound below the list's length
    monkeypatch.setattr(admin_paging, "EXACT_UP_TO", 10)
    monkeypatch.setattr(admin_paging, "planner_rows", lambda queryset: 1234)
    # then the count is the estimate, and every page up to it can be asked for
    paginator = EstimatedCountPaginator(ExternalContact.objects.order_by("pk"), 10)
    assert paginator.count == 1234
    assert len(paginator.page(3).object_list) == 10
    assert list(paginator.page(124).object_list) == []


def test_an_estimate_below_what_was_counted_is_not_taken(postgresql, contacts, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_UP_TO", 10)
    monkeypatch.setattr(admin_paging, "planner_rows", lambda queryset: 3)
    assert EstimatedCountPaginator(ExternalContact.objects.all(), 10).count == 11


def test_the_planners_estimate_is_read_from_explain(postgresql, contacts):
    assert admin_paging.planner_rows(ExternalContact.objects.all()) >= 1


def test_the_contact_list_says_how_many_it_holds(client, hr_user, contacts):
    client.force_login(hr_user)
    response = client.get(reverse("admin:directory_externalcontact_changelist"))
    assert response.status_code == 200
    assert "30" in response.content.decode()


def test_a_page_far_down_the_list_holds_the_same_rows_in_the_same_order(
    postgresql, contacts, monkeypatch
):
    # given pages read by their ids first from the second page on
    monkeypatch.setattr(admin_paging, "DEFERRED_FROM", 10)
    ordered = ExternalContact.objects.order_by("-name", "pk")
    paginator = EstimatedCountPaginator(ordered, 10)
    # then each page holds what plain slicing gives, in its order
    for number in (1, 2, 3):
        page = paginator.page(number)
        assert list(page.object_list) == list(ordered[(number - 1) * 10 : number * 10])


def test_the_contact_list_filters_by_the_enterprises_granted_without_reading_the_contacts(
    client, hr_user, enterprise, contacts
):
    # given HR of two enterprises, each with its contacts
    other = factories.EnterpriseFactory(name="另一家")
    grant_access(user=hr_user, enterprise=other, role=StaffRole.HR)
    owner = factories.MemberFactory(enterprise=other)
    ExternalContact.objects.create(enterprise=other, owner=owner, name="另一家的客户")
    client.force_login(hr_user)
    url = reverse("admin:directory_externalcontact_changelist")
    # when they open the list: the filter offers both enterprises
    page = client.get(url).content.decode()
    assert f"?enterprise__id__exact={other.pk}" in page
    assert f"?enterprise__id__exact={enterprise.pk}" in page
    # and choosing one lists its contacts alone
    response = client.get(url, {"enterprise__id__exact": other.pk})
    assert [c.name for c in response.context["cl"].result_list] == ["另一家的客户"]
    # and a malformed id is refused as the admin refuses a bad filter
    response = client.get(url, {"enterprise__id__exact": "abc"})
    assert response.status_code == 302 and "e=1" in response["Location"]
