"""Resignation inheritance (离职继承, X-5): what a leaving member owns goes to successors, in one
set-based call; customers may decline within the acceptance period; undo gives everything back."""

import random
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.choices import MemberStatus
from directory.demo.resources import ResourcePlanner
from directory.demo.seeder import create_with_history
from directory.models import OWNED_RESOURCE_MODELS, CustomerGroup, ExternalContact
from offboarding import inheritance, prereview, workflow
from offboarding.choices import ExitState, InheritanceStatus, ResourceType
from offboarding.exceptions import ExitRefused
from offboarding.models import InheritanceBatch, InheritanceItem
from tests import factories
from tests.offboarding.conftest import refreshed


def give_sales_director_resources(member) -> None:
    """What `seed_demo` gives the 销售总监 of a 900-member enterprise: 300 external contacts,
    5 customer groups, 2 CRM bindings, an approval template and a calendar."""
    planner = ResourcePlanner(
        random.Random(1), enterprise_id=member.enterprise_id, enterprise_size=900
    )
    owner = {"enterprise_id": member.enterprise_id, "owner_id": member.pk}
    rows: dict[type, list] = {}
    for row in planner.sales_director_resources(SimpleNamespace(user=member.user), owner):
        rows.setdefault(type(row), []).append(row)
    for model, model_rows in rows.items():
        create_with_history(model, model_rows)


def give_contacts(member, count: int) -> None:
    ExternalContact.objects.bulk_create(
        ExternalContact(enterprise_id=member.enterprise_id, owner=member, name=f"客户{n}")
        for n in range(count)
    )


def owned(member) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(owner=member).count()
        for model in OWNED_RESOURCE_MODELS
    }


def fresh(user):
    """The user as a new request would load it (no cached grants): for honest query counts."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def director(member):
    give_sales_director_resources(member)
    return member


def test_the_sales_directors_resources_go_to_the_manager_in_one_call_and_the_exit_completes(
    director, manager, exit_in_handover, ready_to_complete, hr_user
):
    # given the sales director's exit in handover, with no successor named on it
    exit_case = exit_in_handover(director)
    assert owned(director)["ExternalContact"] == 300
    assert owned(director)["CustomerGroup"] == 5

    # when HR hands everything over in one call
    batch = inheritance.inherit(exit_case, actor=hr_user)

    # then the manager owns all of it, the checklist's automatic items are green…
    assert set(owned(director).values()) == {0}
    assert owned(manager) == {
        "ExternalContact": 300,
        "CustomerGroup": 5,
        "AppAuthorization": 0,
        "ThirdPartyBinding": 2,
        "ApprovalTemplate": 1,
        "SharedCalendar": 1,
    }
    assert all(prereview.auto_check_results(director).values())
    assert batch.successors == {rtype: manager.pk for rtype in batch.successors}
    items = batch.items.all()
    assert items.filter(status=InheritanceStatus.WAITING).count() == 300  # customers may decline
    assert items.filter(status=InheritanceStatus.DONE).count() == 5 + 2 + 1 + 1
    # …and the exit completes
    exit_case = workflow.complete(ready_to_complete(exit_case), actor=hr_user)
    assert exit_case.state == ExitState.COMPLETED


def test_each_resource_type_can_go_to_its_own_successor(
    director, manager, stranger, exit_in_handover, hr_user
):
    # given the director's exit in handover
    exit_case = exit_in_handover(director)

    # when the customers go to a colleague and everything else to the manager
    batch = inheritance.inherit(
        exit_case,
        actor=hr_user,
        successor=manager,
        successors_by_type={
            ResourceType.EXTERNAL_CONTACT: stranger,
            ResourceType.CUSTOMER_GROUP: stranger,
        },
    )

    # then each got their part
    assert owned(stranger)["ExternalContact"] == 300
    assert owned(stranger)["CustomerGroup"] == 5
    assert owned(manager)["ExternalContact"] == 0
    assert owned(manager)["ThirdPartyBinding"] == 2
    assert batch.successors[ResourceType.EXTERNAL_CONTACT] == stranger.pk
    assert batch.successors[ResourceType.SHARED_CALENDAR] == manager.pk


def test_waiting_contacts_settle_after_the_acceptance_period_and_refused_ones_do_not(
    member, manager, exit_in_handover, hr_user
):
    # given 3 contacts handed over with the default 24-hour acceptance period
    give_contacts(member, 3)
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    refused, *waiting = batch.items.order_by("pk")
    assert refused.settles_at == pytest.approx(
        timezone.now() + timedelta(hours=24), abs=timedelta(minutes=1)
    )

    # when one customer declines within the period
    inheritance.refuse_item(refused, actor=None, reason="客户不想换对接人")

    # then nothing settles before the period ends…
    assert inheritance.settle_waiting() == 0
    # …and after it, the waiting ones are done, once; the refused one stays refused
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        assert inheritance.settle_waiting() == 2
        assert inheritance.settle_waiting() == 0
    statuses = dict(batch.items.values_list("pk", "status"))
    assert statuses == {
        refused.pk: InheritanceStatus.REFUSED,
        **{item.pk: InheritanceStatus.DONE for item in waiting},
    }
    # the declined customer is kept (as a lost customer) with the successor: nothing blocks
    assert ExternalContact.objects.get(pk=refused.resource_id).owner == manager
    assert prereview.owned_counts(member)[prereview.AutoCheck.EXTERNAL_CONTACTS] == 0


def test_a_refusal_after_the_acceptance_period_is_refused(member, exit_in_handover, hr_user):
    give_contacts(member, 1)
    item = inheritance.inherit(exit_in_handover(member), actor=hr_user).items.get()
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        with pytest.raises(ExitRefused, match="acceptance period ended"):
            inheritance.refuse_item(item, actor=None, reason="太晚了")
    assert refreshed_item(item).status == InheritanceStatus.WAITING


def refreshed_item(item):
    return InheritanceItem.objects.get(pk=item.pk)


def test_with_an_acceptance_period_of_zero_contacts_are_done_at_once(
    member, enterprise, exit_in_handover, hr_user
):
    # given an enterprise whose customers cannot decline
    enterprise.customer_acceptance_period = timedelta(0)
    enterprise.save()
    give_contacts(member, 4)

    # when they are handed over
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)

    # then they are done at once, with nothing left to settle
    assert set(batch.items.values_list("status", "settles_at")) == {(InheritanceStatus.DONE, None)}
    assert inheritance.settle_waiting(timezone.now() + timedelta(days=30)) == 0


def test_a_successor_at_the_limit_receives_what_fits_and_the_rest_goes_to_someone_else(
    member, manager, stranger, enterprise, exit_in_handover, hr_user
):
    # given a limit of 5 contacts per member, a manager with 3 and a leaving member with 4
    enterprise.customer_limit_per_member = 5
    enterprise.save()
    give_contacts(manager, 3)
    give_contacts(member, 4)
    exit_case = exit_in_handover(member)

    # when the member's contacts go to the manager
    batch = inheritance.inherit(exit_case, actor=hr_user)

    # then 2 fit and 2 stay with the member, still blocking completion
    full = batch.items.filter(status=InheritanceStatus.RECEIVER_FULL)
    assert full.count() == 2
    assert owned(manager)["ExternalContact"] == 5
    assert owned(member)["ExternalContact"] == 2
    blockers = {b.code for b in prereview.blockers_for(refreshed(exit_case), prereview.COMPLETE)}
    assert "owns_external_contacts" in blockers
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert inheritance.settle_waiting() == 2  # the full ones never settle
    assert full.count() == 2

    # when they are given to someone with room, and again (nothing left)
    assert inheritance.reassign_full_items(batch, actor=hr_user, successor=stranger) == 2
    assert inheritance.reassign_full_items(batch, actor=hr_user, successor=stranger) == 0

    # then the member owns none and the items name the new successor, waiting for the customers
    assert owned(member)["ExternalContact"] == 0
    assert owned(stranger)["ExternalContact"] == 2
    reassigned = batch.items.filter(successor=stranger)
    assert set(reassigned.values_list("status", flat=True)) == {InheritanceStatus.WAITING}


def test_reassigning_to_a_successor_without_room_is_refused(
    member, manager, stranger, enterprise, exit_in_handover, hr_user
):
    enterprise.customer_limit_per_member = 1
    enterprise.save()
    give_contacts(manager, 1)
    give_contacts(stranger, 3)
    give_contacts(member, 2)
    batch = inheritance.inherit(exit_in_handover(member), actor=hr_user)
    # the refusal says how many they hold and what the limit is (not the limit as their count)
    with pytest.raises(
        ExitRefused, match="路人甲 already looks after 3 external contacts; the limit is 1 per"
    ):
        inheritance.reassign_full_items(batch, actor=hr_user, successor=stranger)
    assert owned(member)["ExternalContact"] == 2


def test_the_query_count_of_inheriting_1000_contacts_equals_that_of_10(
    enterprise, department, manager, stranger, exit_in_handover, hr_user
):
    # given two leaving members, one with 10 contacts and one with 1,000
    small, large = (
        factories.MemberFactory(enterprise=enterprise, department=department, manager=manager)
        for _ in range(2)
    )
    give_contacts(small, 10)
    give_contacts(large, 1000)
    exits = {member: exit_in_handover(member) for member in (small, large)}

    # when each is handed over, counting queries
    counts = {}
    for member, exit_case in exits.items():
        actor = fresh(hr_user)
        with CaptureQueriesContext(connection) as queries:
            inheritance.inherit(exit_case, actor=actor, successor=stranger)
        counts[member] = len(queries)

    # then both took as many queries
    assert owned(stranger)["ExternalContact"] == 1010
    assert counts[small] == counts[large], counts
    # the baseline: the enterprise's door lock, 17 statements and the savepoint around them, then
    # the audit event (the batch's items read, whether the actor is a member — named by id only —,
    # the chain's head locked, the event written, the head moved on: 6), then the successors'
    # notification (the items counted by successor and type, the successors read, the
    # notifications written: 3); on PostgreSQL one more, the door lock's check that this
    # transaction (the test's) holds no shared door lock it would wait on
    assert counts[small] == (29 if connection.vendor == "postgresql" else 28)


def test_each_moved_object_gets_one_history_row_naming_the_actor_and_the_batch(
    director, manager, exit_in_handover, hr_user
):
    # when the director's resources are handed over
    batch = inheritance.inherit(exit_in_handover(director), actor=hr_user)

    # then every moved object has exactly one history row of the handover, by HR, showing the
    # new owner; and so has every item
    reason = f"inheritance:{batch.pk}"
    for model in OWNED_RESOURCE_MODELS:
        moved = set(model.objects.filter(owner=manager).values_list("pk", flat=True))
        rows = model.history.filter(history_change_reason=reason)
        assert sorted(rows.values_list("id", flat=True)) == sorted(moved), model.__name__
        assert set(rows.values_list("history_type", "history_user", "owner")) <= {
            ("~", hr_user.pk, manager.pk)
        }
    items = InheritanceItem.history.filter(history_change_reason=reason, history_type="+")
    assert items.count() == batch.items.count() == 309
    assert set(items.values_list("history_user", flat=True)) == {hr_user.pk}


def test_undoing_the_completed_exit_gives_everything_back(
    director, manager, exit_in_handover, ready_to_complete, hr_user
):
    # given the director's completed exit, everything handed over, one customer declined
    exit_case = exit_in_handover(director)
    before = owned(director)
    batch = inheritance.inherit(exit_case, actor=hr_user)
    inheritance.refuse_item(
        batch.items.filter(resource_type=ResourceType.EXTERNAL_CONTACT).first(),
        actor=None,
        reason="拒绝",
    )
    exit_case = workflow.complete(ready_to_complete(exit_case), actor=hr_user)

    # when HR undoes it
    exit_case = workflow.undo(exit_case, actor=hr_user, password=factories.PASSWORD)

    # then the member owns again all they owned, the batch is given back, with history by HR
    assert exit_case.state == ExitState.REVERTED
    assert owned(director) == before
    assert set(owned(manager).values()) == {0}
    batch = InheritanceBatch.objects.get(pk=batch.pk)
    assert batch.undone_at is not None
    back = CustomerGroup.history.filter(history_change_reason="undo", owner=director)
    assert set(back.values_list("history_user", flat=True)) == {hr_user.pk}
    assert back.count() == 5
    # and waiting items of a given-back batch never settle
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert inheritance.settle_waiting() == 0


@pytest.fixture
def refusal_cases(enterprise, stranger, other_enterprise_hr, it_user, hr_user):
    """Refused handovers by name: each a call of `inherit` on the exit it is given."""
    elsewhere = factories.MemberFactory(enterprise__name="另一家公司")
    frozen = factories.MemberFactory(enterprise=enterprise, status=MemberStatus.FROZEN)
    return {
        "no successor": lambda exit_case: inheritance.inherit(exit_case, actor=hr_user),
        "successor of another enterprise": lambda exit_case: inheritance.inherit(
            exit_case, actor=hr_user, successor=elsewhere
        ),
        "inactive successor": lambda exit_case: inheritance.inherit(
            exit_case, actor=hr_user, successors_by_type={ResourceType.CUSTOMER_GROUP: frozen}
        ),
        "the member themselves": lambda exit_case: inheritance.inherit(
            exit_case, actor=hr_user, successor=exit_case.member
        ),
        "IT, not HR": lambda exit_case: inheritance.inherit(
            exit_case, actor=it_user, successor=stranger
        ),
        "HR of another enterprise": lambda exit_case: inheritance.inherit(
            exit_case, actor=other_enterprise_hr, successor=stranger
        ),
        "the system": lambda exit_case: inheritance.inherit(
            exit_case, actor=None, successor=stranger
        ),
    }


REFUSALS = {
    "no successor": "Name a successor",
    "successor of another enterprise": "another enterprise",
    "inactive successor": "must be an active member",
    "the member themselves": "cannot succeed themselves",
    "IT, not HR": "not allowed",
    "HR of another enterprise": "not allowed",
    "the system": "Only a person",
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_handover_changes_nothing(
    case, refusal_cases, enterprise, department, exit_in_handover
):
    # given a member without a manager (so no default successor), with a contact and a group
    leaving = factories.MemberFactory(enterprise=enterprise, department=department)
    give_contacts(leaving, 1)
    factories.CustomerGroupFactory(owner=leaving)
    exit_case = exit_in_handover(leaving)
    before = owned(leaving)

    # when the handover is asked for
    with pytest.raises(ExitRefused, match=REFUSALS[case]):
        refusal_cases[case](exit_case)

    # then nothing moved and no batch exists
    assert owned(leaving) == before
    assert not InheritanceBatch.objects.exists()


@pytest.mark.parametrize("state", [ExitState.DRAFT, ExitState.PENDING_APPROVAL])
def test_a_handover_before_approval_is_refused(state, member, stranger, open_exit_for, hr_user):
    give_contacts(member, 1)
    exit_case = open_exit_for(member)
    if state == ExitState.PENDING_APPROVAL:
        exit_case = workflow.submit(exit_case, actor=member.user)
    with pytest.raises(ExitRefused, match="only while the exit is in handover"):
        inheritance.inherit(exit_case, actor=hr_user, successor=stranger)
    assert owned(member)["ExternalContact"] == 1
    assert not InheritanceBatch.objects.exists()


def test_a_member_who_owns_nothing_has_nothing_to_hand_over(member, exit_in_handover, hr_user):
    with pytest.raises(ExitRefused, match="owns nothing left to hand over"):
        inheritance.inherit(exit_in_handover(member), actor=hr_user)


def test_the_acceptance_period_cannot_be_negative(enterprise):
    enterprise.customer_acceptance_period = timedelta(hours=-1)
    with pytest.raises(ValidationError, match="acceptance period cannot be negative"):
        enterprise.full_clean()
