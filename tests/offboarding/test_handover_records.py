"""Records that stay true (X-5, X-7, X-8): inherited resources are named after the customer (or
group…) and link to it; the exit page shows what an undo left and who holds the contacts after a
reassignment; a completed, closed or reverted exit shows its automatic checks as they were when
it completed, whatever changes afterwards."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from directory.models import ExternalContact
from offboarding import inheritance, workflow
from offboarding.choices import ExitState, InheritanceStatus
from offboarding.models import InheritanceItem
from tests import factories
from tests.conftest import refreshed
from tests.offboarding.test_inheritance import give_contacts, owned

pytestmark = pytest.mark.django_db


def change_url(exit_case):
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


def contact_url(contact):
    return reverse("admin:directory_externalcontact_change", args=[contact.pk])


def rows_of(page, batch=0):
    """The batch's table on the exit page: (type, status, held by, count)."""
    shown = page.context["handover"]["batches"][batch]
    return [(r["type"], r["status_label"], r["successor"], r["count"]) for r in shown["counts"]]


# -- inherited resources by name --------------------------------------------------------------


def test_inherited_contacts_are_named_and_link_to_the_customer(
    hr_client, exit_in_handover, member, hr_user
):
    # given a contact handed over
    contact = ExternalContact.objects.create(
        enterprise=member.enterprise, owner=member, name="华东客户"
    )
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    item = batch.items.get()

    # then the item reads as the customer, in the list and on its page, linked to the contact
    changelist = hr_client.get(reverse("admin:offboarding_inheritanceitem_changelist"))
    page = hr_client.get(reverse("admin:offboarding_inheritanceitem_change", args=[item.pk]))

    link = f'<a href="{contact_url(contact)}">华东客户</a>'
    assert link in changelist.content.decode()
    assert link in page.content.decode()
    assert str(item) == "华东客户 (External contact)"
    assert "#" not in str(item)


def test_the_item_list_names_its_resources_in_a_fixed_number_of_queries(
    hr_client, exit_in_handover, member, hr_user, django_assert_max_num_queries
):
    give_contacts(member, 40)
    factories.CustomerGroupFactory(owner=member, name="大客户群")
    inheritance.inherit(exit_in_handover(member), actor=hr_user)
    url = reverse("admin:offboarding_inheritanceitem_changelist")
    hr_client.get(url)  # warm the caches

    with django_assert_max_num_queries(20):
        response = hr_client.get(url)

    page = response.content.decode()
    assert "客户39" in page and "大客户群" in page


def test_a_lost_customer_on_the_exit_page_links_to_the_contact(
    hr_client, exit_in_handover, member, hr_user
):
    contact = ExternalContact.objects.create(
        enterprise=member.enterprise, owner=member, name="华东客户"
    )
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    inheritance.refuse_item(batch.items.get(), actor=None, reason="不想换对接人")

    response = hr_client.get(change_url(batch.exit_case))

    [lost] = response.context["handover"]["refused"]
    assert lost["url"] == contact_url(contact)
    assert f'<a href="{contact_url(contact)}">华东客户</a>' in response.content.decode()


# -- the exit page after an undo and after a reassignment ---------------------------------------


def test_after_an_undo_the_exit_page_shows_what_the_undo_left(
    hr_client, exit_in_handover, ready_to_complete, member, manager, hr_user
):
    # given 6 contacts waiting for the customers' acceptance, and the exit completed
    give_contacts(member, 6)
    factories.CustomerGroupFactory(owner=member, name="大客户群")
    exit_case = exit_in_handover(member)
    inheritance.inherit(exit_case, actor=hr_user)
    before = hr_client.get(change_url(exit_case))
    assert ("External contact", "Waiting for the customer", manager.name, 6) in rows_of(before)
    exit_case = workflow.complete(ready_to_complete(refreshed(exit_case)), actor=hr_user)

    # when the exit is undone
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    response = hr_client.get(change_url(exit_case))

    # then the batch shows what came back, no longer "waiting", and no waiting deadline
    assert rows_of(response) == [
        ("External contact", "Given back by the undo", "", 6),
        ("Customer group", "Given back by the undo", "", 1),
    ]
    [batch] = response.context["handover"]["batches"]
    assert batch["undone_at"]
    assert batch["settles_at"] is None and batch["waiting_url"] is None
    assert response.context["prereview_notes"] == []
    page = response.content.decode()
    assert "Waiting for the customer" not in page
    assert "Waiting contacts settle at" not in page
    assert owned(member)["ExternalContact"] == 6


def test_after_an_undo_a_contact_passed_on_meanwhile_is_shown_as_not_given_back(
    hr_client, exit_in_handover, ready_to_complete, member, manager, stranger, hr_user
):
    give_contacts(member, 3)
    exit_case = exit_in_handover(member)
    inheritance.inherit(exit_case, actor=hr_user)
    # the manager passed one contact on to a colleague
    ExternalContact.objects.filter(pk=ExternalContact.objects.order_by("pk")[0].pk).update(
        owner=stranger
    )
    exit_case = workflow.complete(ready_to_complete(refreshed(exit_case)), actor=hr_user)
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)

    response = hr_client.get(change_url(exit_case))

    assert rows_of(response) == [
        ("External contact", "Given back by the undo", "", 2),
        ("External contact", "Not given back: no longer with its successor", manager.name, 1),
    ]


def test_after_a_reassignment_the_exit_page_names_the_new_successor(
    hr_client, exit_in_handover, member, manager, stranger, enterprise, hr_user
):
    # given a manager with room for 2 of 5 contacts
    enterprise.customer_limit_per_member = 2
    enterprise.save(update_fields=["customer_limit_per_member"])
    give_contacts(member, 5)
    exit_case = exit_in_handover(member)
    batch = inheritance.inherit(exit_case, actor=hr_user)

    # when the 3 that did not fit go to 路人甲 (room for 2) and then the last one to 王五
    inheritance.reassign_full_items(batch, actor=hr_user, successor=stranger)
    wang = factories.MemberFactory(enterprise=enterprise, name="王五")
    inheritance.reassign_full_items(batch, actor=hr_user, successor=wang)

    response = hr_client.get(change_url(exit_case))

    # then the page says who holds the contacts now, the new successors named
    [shown] = response.context["handover"]["batches"]
    [contacts] = shown["successors"]
    assert contacts["type"] == "External contact"
    holders = contacts["name"].split(", ")
    assert set(holders) == {manager.name, stranger.name, wang.name}
    rows = rows_of(response)
    assert ("External contact", "Waiting for the customer", stranger.name, 2) in rows
    assert ("External contact", "Waiting for the customer", wang.name, 1) in rows
    assert not any(row[1] == "Successor has reached the limit" for row in rows)
    page = response.content.decode()
    assert f"External contact → {', '.join(holders)}" in page


# -- the checks as they were when the exit ended ------------------------------------------------


def test_a_closed_exit_shows_its_checks_as_they_were_when_it_completed(
    hr_client, completed_exit, member, hr_user
):
    # given an exit completed with every automatic check passing
    exit_case = completed_exit(member)
    assert exit_case.checks_at_end["external_contacts"] is True
    # and closed once the undo window has ended
    with time_machine.travel(exit_case.undo_deadline + timedelta(minutes=1), tick=False):
        exit_case = workflow.close(exit_case, actor=hr_user)
    # when the data changes afterwards (a contact owned by the departed member again)
    ExternalContact.objects.create(enterprise=member.enterprise, owner=member, name="新客户")
    response = hr_client.get(change_url(exit_case))

    # then the page still shows the checks as they were, and says so
    assert refreshed(exit_case).state == ExitState.CLOSED
    page = response.content.decode()
    assert "icon-no.svg" not in page
    assert page.count("icon-yes.svg") == 12
    assert response.context["checks_kept_at"]
    assert "as they were when the exit completed" in page


def test_a_reverted_exit_shows_its_checks_as_they_were_when_it_completed(
    hr_client, exit_in_handover, ready_to_complete, member, hr_user
):
    # given a completed exit whose contacts were handed over
    give_contacts(member, 4)
    exit_case = exit_in_handover(member)
    inheritance.inherit(exit_case, actor=hr_user)
    exit_case = workflow.complete(ready_to_complete(refreshed(exit_case)), actor=hr_user)

    # when it is undone: the contacts come back to the member
    with time_machine.travel(exit_case.completed_at + timedelta(hours=1), tick=False):
        exit_case = workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)
    assert owned(member)["ExternalContact"] == 4

    # then the reverted exit's checklist shows the checks as at completion, not today's data
    page = hr_client.get(change_url(exit_case)).content.decode()
    assert "icon-no.svg" not in page
    assert page.count("icon-yes.svg") == 12


def test_an_exit_in_progress_checks_todays_data(hr_client, exit_in_handover, member):
    give_contacts(member, 1)
    exit_case = exit_in_handover(member)

    response = hr_client.get(change_url(exit_case))

    assert refreshed(exit_case).checks_at_end is None
    assert "icon-no.svg" in response.content.decode()
    assert response.context["checks_kept_at"] is None


def test_waiting_items_of_a_given_back_batch_are_never_settled_into_the_page(
    hr_client, exit_in_handover, ready_to_complete, member, hr_user
):
    give_contacts(member, 2)
    exit_case = exit_in_handover(member)
    inheritance.inherit(exit_case, actor=hr_user)
    exit_case = workflow.complete(ready_to_complete(refreshed(exit_case)), actor=hr_user)
    workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)

    assert InheritanceItem.objects.filter(status=InheritanceStatus.WAITING).count() == 2
    assert rows_of(hr_client.get(change_url(exit_case))) == [
        ("External contact", "Given back by the undo", "", 2)
    ]
