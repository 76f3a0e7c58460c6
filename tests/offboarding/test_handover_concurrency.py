"""Handovers at the same moment (S-3): two inheritances to one successor never push them past
the enterprise's limit of external contacts per member, and freezes at once never leave an
enterprise with zero or two super admins. PostgreSQL only: SQLite has no row locks to wait on."""

import pytest

from directory.models import ExternalContact
from offboarding import inheritance
from offboarding.choices import InheritanceStatus
from offboarding.models import InheritanceItem
from tests import factories
from tests.offboarding.test_concurrency import all_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql")]


def test_two_handovers_at_once_to_one_successor_stay_within_the_limit(
    enterprise, department, manager, exit_in_handover, hr_user
):
    # given a limit of 10 contacts, a successor who has 4, and two leavers with 5 each
    enterprise.customer_limit_per_member = 10
    enterprise.save()
    factories.ExternalContactFactory.create_batch(4, enterprise=enterprise, owner=manager)
    exits = []
    for name in ("甲", "乙"):
        leaver = factories.MemberFactory(
            enterprise=enterprise, department=department, manager=manager, name=name
        )
        factories.ExternalContactFactory.create_batch(5, enterprise=enterprise, owner=leaver)
        exits.append(exit_in_handover(leaver))
    # when both are handed over to the manager at the same moment
    outcomes = all_at_once(
        *[
            lambda exit_case=exit_case: inheritance.inherit(
                exit_case, actor=hr_user, successor=manager
            )
            for exit_case in exits
        ]
    )
    # then both ran, the manager holds exactly the limit, and the rest wait for another successor
    assert all(outcome.done for outcome in outcomes), outcomes
    assert ExternalContact.objects.filter(owner=manager).count() == 10
    full = InheritanceItem.objects.filter(status=InheritanceStatus.RECEIVER_FULL)
    assert full.count() == 4


def test_freezing_the_super_admin_and_the_backup_admin_at_once_leaves_one_super_admin(
    enterprise, super_admin, hr_user
):
    from directory.choices import MemberRole
    from directory.models import Member
    from offboarding import handover

    backup = factories.MemberFactory(
        enterprise=enterprise, role=MemberRole.ADMIN, is_backup_admin=True
    )
    outcomes = all_at_once(
        lambda: handover.freeze_account(super_admin, actor=hr_user, reason="账号被盗"),
        lambda: handover.freeze_account(backup, actor=hr_user, reason="账号被盗"),
    )
    assert sum(outcome.done for outcome in outcomes) >= 1, outcomes
    assert Member.objects.filter(enterprise=enterprise).super_admins().count() == 1
