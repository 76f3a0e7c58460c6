"""Pickers that help (U-2, X-5): every member field of the admin is an autocomplete that finds
people by name, number, department and title; the successor pickers show each candidate's load
of external contacts against the limit; the handover pages name what moves, page by page, and
warn before anything is written when the successor has no room. The autocomplete is a URL the
admin mounts: it stands behind the tenant wall (S-2) whatever its query string says."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.choices import MemberStatus
from directory.models import ExternalContact
from offboarding import inheritance
from offboarding.models import InheritanceBatch
from tests import factories
from tests.offboarding.test_inheritance import give_contacts, owned

pytestmark = pytest.mark.django_db

AUTOCOMPLETE = "admin:autocomplete"
EXIT_SUCCESSOR = {"app_label": "offboarding", "model_name": "exit", "field_name": "successor"}


def autocomplete(client, term="", **params):
    return client.get(reverse(AUTOCOMPLETE), {**EXIT_SUCCESSOR, "term": term, **params})


def inheritance_url(exit_case):
    return reverse("admin:offboarding_exit_inheritance", args=[exit_case.pk])


@pytest.fixture
def sales(enterprise):
    return factories.DepartmentFactory(enterprise=enterprise, name="华东销售部")


@pytest.fixture
def liu_lin(enterprise, sales):
    """A successor who already looks after 27 customers, in an enterprise whose limit is 10."""
    enterprise.customer_limit_per_member = 10
    enterprise.save(update_fields=["customer_limit_per_member"])
    liu = factories.MemberFactory(
        enterprise=enterprise, department=sales, name="刘琳", title="客户经理"
    )
    give_contacts(liu, 27)
    return liu


@pytest.fixture
def elsewhere(db):
    """Another enterprise with a member who is leaving, and a colleague of theirs."""
    enterprise = factories.EnterpriseFactory(name="别家公司")
    leaving = factories.MemberFactory(enterprise=enterprise, name="外企员工", title="客户经理")
    colleague = factories.MemberFactory(enterprise=enterprise, name="外企同事", title="客户经理")
    return {"enterprise": enterprise, "leaving": leaving, "colleague": colleague}


# -- the autocomplete behind the tenant wall ---------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        EXIT_SUCCESSOR,
        {"app_label": "offboarding", "model_name": "exit", "field_name": "member"},
        {"app_label": "directory", "model_name": "member", "field_name": "manager"},
        {"app_label": "offboarding", "model_name": "inheritanceitem", "field_name": "successor"},
        {"app_label": "compliance", "model_name": "legalhold", "field_name": "member"},
    ],
)
def test_no_field_named_in_the_query_string_reaches_another_enterprises_members(
    hr_client, member, elsewhere, params
):
    response = hr_client.get(reverse(AUTOCOMPLETE), {**params, "term": ""})

    assert response.status_code == 200
    ids = {result["id"] for result in response.json()["results"]}
    assert str(member.pk) in ids
    assert not ids & {str(elsewhere["leaving"].pk), str(elsewhere["colleague"].pk)}
    # not even when searched for by name
    searched = hr_client.get(reverse(AUTOCOMPLETE), {**params, "term": "外企"})
    assert searched.json()["results"] == []


def test_another_enterprises_exit_forwarded_to_the_picker_is_refused(
    hr_client, open_exit_for, elsewhere
):
    foreign_exit = open_exit_for(elsewhere["leaving"])

    response = autocomplete(hr_client, exit=foreign_exit.pk)

    assert response.status_code == 403
    assert "外企" not in response.content.decode()


@pytest.mark.parametrize("forged", ["abc", "-1", "999999", "1 OR 1=1", ""])
def test_a_forged_exit_parameter_is_refused(hr_client, forged):
    assert autocomplete(hr_client, exit=forged).status_code == 403


def test_the_exit_parameter_only_picks_members(hr_client, exit_in_handover, member):
    exit_case = exit_in_handover(member)
    response = hr_client.get(
        reverse(AUTOCOMPLETE),
        {"app_label": "directory", "model_name": "member", "field_name": "department"}
        | {"exit": exit_case.pk, "term": ""},
    )
    assert response.status_code == 403


def test_only_hr_of_the_exit_gets_its_successor_candidates(
    client, it_user, exit_in_handover, member
):
    exit_case = exit_in_handover(member)
    client.force_login(it_user)

    assert autocomplete(client, exit=exit_case.pk).status_code == 403


# -- what the pickers show -----------------------------------------------------------------------


def test_member_search_finds_titles_and_department_names(hr_client, liu_lin, stranger):
    by_title = autocomplete(hr_client, term="客户经理").json()["results"]
    by_department = autocomplete(hr_client, term="华东销售").json()["results"]
    changelist = hr_client.get(reverse("admin:directory_member_changelist"), {"q": "客户经理"})

    assert [result["id"] for result in by_title] == [str(liu_lin.pk)]
    assert [result["id"] for result in by_department] == [str(liu_lin.pk)]
    assert list(changelist.context["cl"].result_list) == [liu_lin]


def test_a_member_picker_shows_department_and_title(hr_client, liu_lin):
    response = hr_client.get(
        reverse(AUTOCOMPLETE),
        {"app_label": "directory", "model_name": "member", "field_name": "manager", "term": "刘"},
    )

    [result] = response.json()["results"]
    assert result["text"] == f"刘琳 · 华东销售部 · 客户经理 ({liu_lin.employee_number})"


def test_the_successor_picker_shows_each_candidates_load_against_the_limit(
    hr_client, exit_in_handover, member, liu_lin, enterprise
):
    # given an exit in handover, and a colleague who has left already
    exit_case = exit_in_handover(member)
    factories.MemberFactory(enterprise=enterprise, name="刘离职", status=MemberStatus.DEPARTED)

    response = autocomplete(hr_client, term="刘", exit=exit_case.pk)

    # then only active colleagues are offered, with how many contacts they hold and the limit
    [result] = response.json()["results"]
    assert result["text"] == (
        f"刘琳 · 华东销售部 · 客户经理 ({liu_lin.employee_number}) — "
        "27 / 10 external contacts: no room"
    )
    assert (result["held"], result["limit"]) == (27, 10)
    # and never the leaving member themselves
    offered = {r["id"] for r in autocomplete(hr_client, exit=exit_case.pk).json()["results"]}
    assert str(member.pk) not in offered


def test_the_successor_pickers_queries_do_not_grow_with_the_candidates(
    hr_client, exit_in_handover, member, enterprise
):
    exit_case = exit_in_handover(member)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = autocomplete(hr_client, exit=exit_case.pk)
        assert response.status_code == 200
        return len(queries), len(response.json()["results"])

    for n in range(3):
        give_contacts(factories.MemberFactory(enterprise=enterprise), n)
    few_queries, few = count_queries()
    for n in range(12):
        give_contacts(factories.MemberFactory(enterprise=enterprise), n)
    many_queries, many = count_queries()

    assert many > few
    assert many_queries == few_queries


def test_the_handover_page_uses_labelled_autocompletes(hr_client, exit_in_handover, member):
    give_contacts(member, 2)
    exit_case = exit_in_handover(member)

    page = hr_client.get(inheritance_url(exit_case)).content.decode()

    assert 'class="admin-autocomplete' in page
    assert f"/admin/autocomplete/?exit={exit_case.pk}" in page
    assert '<label for="id_successor">' in page
    assert "directory/autocomplete_label.js" in page


def test_the_exit_add_page_uses_labelled_autocompletes(hr_client):
    page = hr_client.get(reverse("admin:offboarding_exit_add")).content.decode()

    assert page.count('class="admin-autocomplete') == 2  # member and successor
    assert "directory/autocomplete_label.js" in page


# -- the confirmation pages: what moves, and the limit before anything is written ---------------


def test_the_handover_page_names_the_contacts_and_groups_that_move_page_by_page(
    hr_client, exit_in_handover, member
):
    # given a member with 60 customers and 2 customer groups
    ExternalContact.objects.bulk_create(
        ExternalContact(enterprise=member.enterprise, owner=member, name=f"客户{n:02d}")
        for n in range(60)
    )
    factories.CustomerGroupFactory(owner=member, name="华东大客户群")
    factories.CustomerGroupFactory(owner=member, name="华南大客户群")
    exit_case = exit_in_handover(member)

    first = hr_client.get(inheritance_url(exit_case))
    second = hr_client.get(inheritance_url(exit_case), {"contacts_page": 2})

    contacts, groups = first.context["moving_lists"]
    assert contacts["count"] == 60
    assert [c.name for c in contacts["page"]] == [f"客户{n:02d}" for n in range(50)]
    assert [g.name for g in groups["page"]] == ["华东大客户群", "华南大客户群"]
    assert contacts["next_url"] == "?contacts_page=2"
    page = first.content.decode()
    assert "客户49" in page and "客户50" not in page and "华南大客户群" in page
    [contacts_2, _groups] = second.context["moving_lists"]
    assert [c.name for c in contacts_2["page"]] == [f"客户{n:02d}" for n in range(50, 60)]
    assert "客户59" in second.content.decode()


def test_the_handover_warns_before_writing_when_the_successor_is_over_the_limit(
    hr_client, exit_in_handover, member, liu_lin, stranger
):
    # given a member with 8 customers, and 刘琳 already holding 27 where 10 is the limit
    give_contacts(member, 8)
    exit_case = exit_in_handover(member)

    # when HR chooses 刘琳 and submits
    response = hr_client.post(inheritance_url(exit_case), {"successor": liu_lin.pk})

    # then the page warns, saying how many she holds, the limit and what would be left, …
    assert response.status_code == 200
    page = response.content.decode()
    assert "刘琳 already looks after 27 external contacts; the limit is 10." in page
    assert "None of the 8 external contacts would fit: all 8 would stay with 张三" in page
    assert f'name="confirm_over_limit" value="{liu_lin.pk}"' in page
    # … the picker still shows her, with her load
    assert "27 / 10 external contacts: no room" in page
    # … and nothing was written
    assert not InheritanceBatch.objects.exists()
    assert owned(member)["ExternalContact"] == 8

    # when HR chooses someone with room instead, it goes through without a warning
    response = hr_client.post(inheritance_url(exit_case), {"successor": stranger.pk})
    assert response.status_code == 302
    assert owned(stranger)["ExternalContact"] == 8


def test_a_confirmation_for_another_successor_does_not_pass_the_warning(
    hr_client, exit_in_handover, member, liu_lin, stranger
):
    give_contacts(member, 15)
    exit_case = exit_in_handover(member)

    response = hr_client.post(
        inheritance_url(exit_case), {"successor": liu_lin.pk, "confirm_over_limit": stranger.pk}
    )

    assert response.status_code == 200
    assert not InheritanceBatch.objects.exists()


def test_confirmed_over_the_limit_what_does_not_fit_stays_for_reassignment(
    hr_client, exit_in_handover, member, liu_lin
):
    give_contacts(member, 15)
    exit_case = exit_in_handover(member)

    response = hr_client.post(
        inheritance_url(exit_case), {"successor": liu_lin.pk, "confirm_over_limit": liu_lin.pk}
    )

    assert response.status_code == 302
    batch = InheritanceBatch.objects.get()
    assert batch.items.filter(status="receiver_full").count() == 15
    assert owned(member)["ExternalContact"] == 15


def test_a_successor_without_room_is_refused_with_their_count_and_the_limit(
    hr_client, exit_in_handover, member, liu_lin, enterprise, hr_user
):
    # given contacts that did not fit
    enterprise.customer_limit_per_member = 0
    enterprise.save(update_fields=["customer_limit_per_member"])
    give_contacts(member, 3)
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    enterprise.customer_limit_per_member = 10
    enterprise.save(update_fields=["customer_limit_per_member"])
    url = reverse(
        "admin:offboarding_exit_inheritance_reassign", args=[batch.exit_case_id, batch.pk]
    )

    # the reassignment page names them
    [contacts] = hr_client.get(url).context["moving_lists"]
    assert [c.name for c in contacts["page"]] == ["客户0", "客户1", "客户2"]

    # when HR picks 刘琳 (27 held, limit 10)
    response = hr_client.post(url, {"successor": liu_lin.pk})

    # then the refusal says how many she holds and what the limit is
    assert "刘琳 already looks after 27 external contacts; the limit is 10 per member" in (
        response.content.decode()
    )
    assert owned(member)["ExternalContact"] == 3


@pytest.mark.parametrize(
    ("staff", "add_page"),
    [
        ("hr_user", "admin:offboarding_accountfreeze_add"),
        ("compliance_user", "admin:compliance_legalhold_add"),
        ("compliance_user", "admin:compliance_erasurerequest_add"),
        ("hr_user", "admin:directory_member_add"),
    ],
)
def test_every_member_picker_is_an_autocomplete_named_by_its_label(
    client, request, staff, add_page
):
    client.force_login(request.getfixturevalue(staff))

    page = client.get(reverse(add_page)).content.decode()

    assert 'class="admin-autocomplete' in page
    assert "directory/autocomplete_label.js" in page
    # the label script comes after the admin's autocomplete script, which draws the combobox
    assert page.index("admin/js/autocomplete.js") < page.index("directory/autocomplete_label.js")
