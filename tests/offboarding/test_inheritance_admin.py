"""Resignation inheritance (离职继承, X-5) from the exit admin: HR hands a leaving member's
resources over from the exit page, sees the handover there, and reassigns contacts that did not
fit; nobody else may, and nothing crosses enterprises (S-2)."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.models import CustomerGroup, ExternalContact
from offboarding import inheritance, workflow
from offboarding.choices import ExitState, InheritanceStatus
from offboarding.models import InheritanceBatch, InheritanceItem
from tests import factories
from tests.offboarding.conftest import refreshed
from tests.offboarding.test_inheritance import give_contacts, give_sales_director_resources, owned

pytestmark = pytest.mark.django_db


def change_url(exit_case):
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


def inheritance_url(exit_case):
    return reverse("admin:offboarding_exit_inheritance", args=[exit_case.pk])


def reassign_url(batch):
    return reverse(
        "admin:offboarding_exit_inheritance_reassign", args=[batch.exit_case_id, batch.pk]
    )


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def director(member):
    give_sales_director_resources(member)
    return member


def test_hr_sees_the_handover_button_only_in_handover(
    hr_client, open_exit_for, approve_every_step, director
):
    # given the sales director's exit, still a draft
    exit_case = open_exit_for(director)

    # then the page offers no handover yet…
    assert hr_client.get(change_url(exit_case)).context["inheritance_url"] is None

    # …and once the exit is approved (handover), it does
    workflow.submit(exit_case, actor=director.user)
    exit_case = approve_every_step(exit_case)
    response = hr_client.get(change_url(exit_case))
    assert response.context["inheritance_url"] == inheritance_url(exit_case)
    assert "Hand over resources" in response.content.decode()


def test_it_does_not_see_the_handover_button(client, it_user, exit_in_handover, director):
    exit_case = exit_in_handover(director)

    response = client_for(client, it_user).get(change_url(exit_case))

    assert response.context["inheritance_url"] is None


def test_the_confirmation_page_lists_what_moves_and_changes_nothing(
    hr_client, exit_in_handover, director, manager
):
    exit_case = exit_in_handover(director)

    response = hr_client.get(inheritance_url(exit_case))

    assert response.status_code == 200
    owned_rows = {row["type"]: row["count"] for row in response.context["owned"]}
    assert owned_rows["External contact"] == 300
    assert owned_rows["Customer group"] == 5
    # the default successor with their department and load of external contacts
    default = response.context["default_successor"]
    assert default.startswith(f"{manager.name} · 销售部 ({manager.employee_number})")
    assert default.endswith("— 0 / 20000 external contacts")
    assert f"Default successor: {default}." in response.content.decode()
    assert owned(director)["ExternalContact"] == 300
    assert not InheritanceBatch.objects.exists()


def test_handing_over_moves_everything_and_the_exit_then_completes(
    hr_client, exit_in_handover, ready_to_complete, director, manager, hr_user
):
    # given the sales director's exit in handover, with no successor named on it
    exit_case = exit_in_handover(director)

    # when HR hands over from the admin with the default successor
    response = hr_client.post(inheritance_url(exit_case), {}, follow=True)

    # then everything is the manager's, and the message says what moved, by status
    assert set(owned(director).values()) == {0}
    assert owned(manager)["ExternalContact"] == 300
    assert owned(manager)["CustomerGroup"] == 5
    assert response.redirect_chain[-1][0] == change_url(exit_case)
    [message] = messages_of(response)
    assert "Waiting for the customer: 300" in message
    assert "Handed over:" in message
    # the page shows the batch, its counts and when the waiting contacts settle
    handover = response.context["handover"]
    [batch] = handover["batches"]
    counts = {(row["type"], row["status"]): row["count"] for row in batch["counts"]}
    assert counts[("External contact", InheritanceStatus.WAITING)] == 300
    assert counts[("Customer group", InheritanceStatus.DONE)] == 5
    assert batch["settles_at"]
    assert f"Waiting contacts settle at {batch['settles_at']}" in response.content.decode()
    # waiting customers are a note of the pre-review, not a blocker
    [note] = response.context["prereview_notes"]
    assert "300 external contacts are waiting" in note
    assert not any("external contact" in b["message"] for b in response.context["blockers"])

    # and once everything else is signed off, the exit completes
    exit_case = ready_to_complete(refreshed(exit_case))
    exit_case = workflow.complete(exit_case, actor=hr_user)
    assert exit_case.state == ExitState.COMPLETED


def test_a_resource_type_can_go_to_its_own_successor(
    hr_client, exit_in_handover, director, manager, stranger
):
    exit_case = exit_in_handover(director)

    hr_client.post(inheritance_url(exit_case), {"successor_customer_group": stranger.pk})

    assert CustomerGroup.objects.filter(owner=stranger).count() == 5
    assert ExternalContact.objects.filter(owner=manager).count() == 300
    batch = InheritanceBatch.objects.get()
    assert batch.successors["customer_group"] == stranger.pk
    assert batch.successors["external_contact"] == manager.pk


def test_without_a_successor_the_refusal_is_shown_on_the_form_and_nothing_moves(
    hr_client, exit_in_handover, enterprise
):
    # given a member without a manager, whose exit names no successor
    loner = factories.MemberFactory(enterprise=enterprise, manager=None, name="孤狼")
    give_contacts(loner, 3)
    exit_case = exit_in_handover(loner)

    # when HR hands over without choosing anyone
    response = hr_client.post(inheritance_url(exit_case), {})

    # then the form says so, and nothing moved
    assert response.status_code == 200
    errors = response.context["form"].errors["successor"]
    assert any("Name a successor" in error for error in errors)
    assert owned(loner)["ExternalContact"] == 3
    assert not InheritanceBatch.objects.exists()


@pytest.mark.parametrize("staff", ["it_user", "compliance_user"])
def test_it_and_compliance_cannot_hand_over(client, request, staff, exit_in_handover, director):
    exit_case = exit_in_handover(director)
    client_for(client, request.getfixturevalue(staff))

    assert client.get(inheritance_url(exit_case)).status_code == 403
    assert client.post(inheritance_url(exit_case), {}).status_code == 403
    assert owned(director)["ExternalContact"] == 300


def test_another_enterprises_hr_finds_no_such_exit(
    client, other_enterprise_hr, exit_in_handover, director
):
    exit_case = exit_in_handover(director)
    client_for(client, other_enterprise_hr)

    assert client.get(inheritance_url(exit_case)).status_code == 404
    assert client.post(inheritance_url(exit_case), {}).status_code == 404
    assert owned(director)["ExternalContact"] == 300


def test_handing_over_outside_handover_goes_back_with_a_message(hr_client, open_exit_for, director):
    exit_case = open_exit_for(director)

    response = hr_client.post(inheritance_url(exit_case), {}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(exit_case)
    assert "only while the exit is in handover" in messages_of(response)[0]
    assert owned(director)["ExternalContact"] == 300


def test_contacts_that_did_not_fit_are_reassigned_from_the_exit_page(
    hr_client, exit_in_handover, member, manager, stranger, enterprise, hr_user
):
    # given a manager who may look after only 2 contacts, and a member with 5
    enterprise.customer_limit_per_member = 2
    enterprise.save(update_fields=["customer_limit_per_member"])
    give_contacts(member, 5)
    exit_case = exit_in_handover(member)
    batch = inheritance.inherit(exit_case, actor=hr_user)

    # then the page shows the 3 that did not fit, with a button to reassign them
    page = hr_client.get(change_url(exit_case))
    [shown] = page.context["handover"]["batches"]
    assert shown["receiver_full"] == 3
    assert shown["reassign_url"] == reassign_url(batch)

    # when HR gives them to someone with room for 2: the page warns first, writing nothing…
    assert hr_client.get(reassign_url(batch)).status_code == 200
    warned = hr_client.post(reassign_url(batch), {"successor": stranger.pk})
    assert warned.status_code == 200
    assert "Only 2 of the 3 external contacts would fit" in warned.content.decode()
    assert ExternalContact.objects.filter(owner=stranger).count() == 0
    # …and HR confirms
    response = hr_client.post(
        reassign_url(batch),
        {"successor": stranger.pk, "confirm_over_limit": stranger.pk},
        follow=True,
    )

    # then 2 moved, 1 is still waiting for room
    assert "2 external contacts went to 路人甲." in messages_of(response)
    assert ExternalContact.objects.filter(owner=stranger).count() == 2
    assert InheritanceItem.objects.filter(status=InheritanceStatus.RECEIVER_FULL).count() == 1


def test_reassigning_without_a_successor_is_an_error_on_the_form(
    hr_client, exit_in_handover, member, enterprise, hr_user
):
    enterprise.customer_limit_per_member = 0
    enterprise.save(update_fields=["customer_limit_per_member"])
    give_contacts(member, 2)
    exit_case = exit_in_handover(member)
    batch = inheritance.inherit(exit_case, actor=hr_user)

    response = hr_client.post(reassign_url(batch), {})

    assert response.status_code == 200
    assert response.context["form"].errors["successor"]
    assert owned(member)["ExternalContact"] == 2


def test_a_customer_who_declined_is_listed_as_lost_on_the_exit_page(
    hr_client, exit_in_handover, member, hr_user
):
    ExternalContact.objects.create(enterprise=member.enterprise, owner=member, name="华东客户")
    exit_case = exit_in_handover(member)
    batch = inheritance.inherit(exit_case, actor=hr_user)
    inheritance.refuse_item(batch.items.get(), actor=None, reason="不想换对接人")

    response = hr_client.get(change_url(exit_case))

    [lost] = response.context["handover"]["refused"]
    assert lost["contact"] == "华东客户"
    assert lost["reason"] == "不想换对接人"
    assert "Lost customers (declined the handover)" in response.content.decode()
    assert response.context["prereview_notes"] == []


def test_the_exit_pages_queries_do_not_grow_with_the_inherited_contacts(
    hr_client, exit_in_handover, enterprise, manager, hr_user
):
    def handed_over_exit(contacts):
        leaver = factories.MemberFactory(enterprise=enterprise, manager=manager)
        give_contacts(leaver, contacts)
        exit_case = exit_in_handover(leaver)
        inheritance.inherit(exit_case, actor=hr_user)
        return exit_case

    def count_queries(exit_case):
        with CaptureQueriesContext(connection) as queries:
            response = hr_client.get(change_url(exit_case))
        assert response.status_code == 200
        assert response.context["handover"]["batches"]
        return len(queries)

    few, many = handed_over_exit(10), handed_over_exit(300)
    count_queries(few)  # warm the caches (content types, grants)

    assert count_queries(many) == count_queries(few)


def test_the_handover_records_are_listed_read_only_for_hr(
    hr_client, exit_in_handover, director, hr_user
):
    exit_case = exit_in_handover(director)
    batch = inheritance.inherit(exit_case, actor=hr_user)
    item = batch.items.order_by("pk").first()

    items = hr_client.get(
        reverse("admin:offboarding_inheritanceitem_changelist"), {"q": director.name}
    )
    batches = hr_client.get(reverse("admin:offboarding_inheritancebatch_changelist"))
    page = hr_client.get(reverse("admin:offboarding_inheritanceitem_change", args=[item.pk]))

    assert items.status_code == batches.status_code == page.status_code == 200
    assert items.context["cl"].result_count == batch.items.count()
    assert director.name in batches.content.decode()
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]


def refuse_url(item):
    return reverse("admin:offboarding_inheritanceitem_refuse", args=[item.pk])


def test_hr_records_a_customers_refusal_from_the_exit_page(
    hr_client, exit_in_handover, member, hr_user
):
    # given a contact waiting for the customer's acceptance
    ExternalContact.objects.create(enterprise=member.enterprise, owner=member, name="华东客户")
    exit_case = exit_in_handover(member)
    batch = inheritance.inherit(exit_case, actor=hr_user)
    item = batch.items.get()
    assert item.status == InheritanceStatus.WAITING
    # the exit page leads to the waiting contacts, and the item's page to the refusal
    [shown] = hr_client.get(change_url(exit_case)).context["handover"]["batches"]
    assert hr_client.get(shown["waiting_url"]).context["cl"].result_count == 1
    item_page = reverse("admin:offboarding_inheritanceitem_change", args=[item.pk])
    assert hr_client.get(item_page).context["refuse_url"] == refuse_url(item)
    # when a reason is missing, the form says so and nothing changes
    response = hr_client.post(refuse_url(item), {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert InheritanceItem.objects.get(pk=item.pk).status == InheritanceStatus.WAITING
    # when HR records the refusal with its reason
    response = hr_client.post(refuse_url(item), {"reason": "不想换对接人"})
    # then the contact is a lost customer, no longer waiting, and the record says why and who
    assert response.status_code == 302
    item = InheritanceItem.objects.get(pk=item.pk)
    assert (item.status, item.refusal_reason) == (InheritanceStatus.REFUSED, "不想换对接人")
    assert item.history.latest("history_id").history_user == hr_user
    assert "is kept as a lost customer" in messages_of(response)[0]
    assert hr_client.get(item_page).context.get("refuse_url") is None


def test_it_cannot_record_a_refusal(client, it_user, exit_in_handover, member, hr_user):
    ExternalContact.objects.create(enterprise=member.enterprise, owner=member, name="华东客户")
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    item = batch.items.get()
    response = client_for(client, it_user).post(refuse_url(item), {"reason": "x"})
    assert response.status_code == 403
    assert InheritanceItem.objects.get(pk=item.pk).status == InheritanceStatus.WAITING
