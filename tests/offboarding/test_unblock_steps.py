"""HR unblocks an exit whose approval step waits on an approver who cannot act (frozen, departed,
login cut): `workflow.reassign_step` and `workflow.skip_step`, the exit page's buttons and their
confirmation pages, and the manager's approvals pages after a reassignment."""

import pytest
from django.urls import reverse

from compliance.audit import personal_data
from compliance.models import AuditEvent
from directory.choices import MemberStatus
from directory.models import Member
from offboarding import workflow
from offboarding.choices import ApproverKind, Decision, ExitState, NotificationEvent
from offboarding.exceptions import ExitRefused
from offboarding.models import ApprovalChainStep, Exit, Notification
from tests import factories
from tests.offboarding.conftest import history_reasons, refreshed

pytestmark = pytest.mark.django_db

REASON = "李经理账号被冻结"


@pytest.fixture
def pending_exit(open_exit_for, member):
    """张三's exit waiting on its first step: their manager 李经理 (then HR)."""
    exit_case = open_exit_for(member)
    return workflow.submit(exit_case, actor=member.user)


def freeze(member):
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.FROZEN)
    member.refresh_from_db()


def cut_login(member):
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])


@pytest.fixture
def new_manager(enterprise, department):
    return factories.MemberFactory(enterprise=enterprise, department=department, name="王主管")


def step(exit_case, position):
    return exit_case.approvals.select_related("assignee").get(position=position)


# ---------------------------------------------------------------------------------------------
# Who cannot act


def test_why_cannot_act_reads_the_member_and_their_login(manager):
    assert workflow.why_cannot_act(manager) is None
    cut_login(manager)
    assert workflow.why_cannot_act(manager) == workflow.CannotAct.LOGIN_CUT
    freeze(manager)
    assert workflow.why_cannot_act(manager) == workflow.CannotAct.FROZEN
    Member.objects.filter(pk=manager.pk).update(status=MemberStatus.DEPARTED)
    manager.refresh_from_db()
    assert workflow.why_cannot_act(manager) == workflow.CannotAct.DEPARTED


# ---------------------------------------------------------------------------------------------
# Reassign


def test_reassign_gives_the_step_of_a_frozen_manager_to_another_approver(
    pending_exit, manager, new_manager, hr_user
):
    freeze(manager)
    approval = workflow.reassign_step(
        pending_exit, actor=hr_user, step=1, assignee=new_manager, reason=REASON
    )
    approval.refresh_from_db()
    assert approval.assignee == new_manager
    assert approval.decision == Decision.PENDING
    assert approval.reassign_reason == REASON
    assert refreshed(pending_exit).state == ExitState.PENDING_APPROVAL
    # history: who and why
    record = approval.history.order_by("-history_id").first()
    assert record.history_change_reason == "reassign"
    assert record.history_user == hr_user
    # audit event, the reason sealed
    event = AuditEvent.objects.get(action="approval_step_reassigned")
    assert event.data["from_assignee_id"] == manager.pk
    assert event.data["to_assignee_id"] == new_manager.pk
    assert event.data["cannot_act"] == "frozen"
    assert personal_data(event) == {"reason": REASON}
    assert event.exit_id == pending_exit.pk
    # the new approver is told, with the link to their approval page
    told = Notification.objects.get(
        event=NotificationEvent.STEP_WAITING, recipient_member=new_manager
    )
    assert told.link.endswith(reverse("offboarding:approval_detail", args=[pending_exit.pk]))


def test_after_reassignment_the_new_approver_decides_and_the_old_one_no_longer_sees_it(
    pending_exit, manager, new_manager, hr_user, client
):
    cut_login(manager)  # removed: status still active, but cannot sign in
    assert list(Exit.objects.waiting_for(manager.user)) == [pending_exit]
    workflow.reassign_step(pending_exit, actor=hr_user, step=1, assignee=new_manager, reason=REASON)
    assert list(Exit.objects.waiting_for(manager.user)) == []
    assert not Exit.objects.open_to_approver(manager.user).exists()
    # the new approver's pages
    client.force_login(new_manager.user)
    inbox = client.get(reverse("offboarding:approvals"))
    assert "张三" in inbox.content.decode()
    detail = reverse("offboarding:approval_detail", args=[pending_exit.pk])
    assert client.get(detail).status_code == 200
    response = client.post(detail, {"decision": "approve", "comment": "同意", "step": 1})
    assert response.status_code == 302
    approval = step(refreshed(pending_exit), 1)
    assert approval.decision == Decision.APPROVED
    assert approval.decided_by == new_manager.user


@pytest.mark.parametrize(
    "situation, message",
    [
        ("can_act", "李经理 can still decide this step"),
        ("no_reason", "Say why the step goes to another approver."),
        ("not_hr", "Only HR of the enterprise can reassign or skip an approval step."),
        ("to_the_member", "张三 cannot approve their own exit."),
        (
            "to_someone_frozen",
            "王主管's account is frozen. Choose someone who can decide the step.",
        ),
        ("wrong_step", "Step 2 is not the step this exit waits on"),
    ],
)
def test_reassign_is_refused_and_changes_nothing(
    situation, message, pending_exit, manager, new_manager, member, hr_user, it_user
):
    if situation != "can_act":
        freeze(manager)
    kwargs = {"actor": hr_user, "step": 1, "assignee": new_manager, "reason": REASON}
    if situation == "no_reason":
        kwargs["reason"] = "  "
    elif situation == "not_hr":
        kwargs["actor"] = it_user
    elif situation == "to_the_member":
        kwargs["assignee"] = member
    elif situation == "to_someone_frozen":
        freeze(new_manager)
    elif situation == "wrong_step":
        kwargs["step"] = 2
    with pytest.raises(ExitRefused, match=message):
        workflow.reassign_step(pending_exit, **kwargs)
    assert step(pending_exit, 1).assignee == manager
    assert not AuditEvent.objects.filter(action="approval_step_reassigned").exists()


def test_reassign_is_refused_once_no_step_waits(exit_in_handover, member, new_manager, hr_user):
    exit_case = exit_in_handover(member)
    with pytest.raises(ExitRefused, match="This exit is Handover: no approval step waits."):
        workflow.reassign_step(
            exit_case, actor=hr_user, step=1, assignee=new_manager, reason=REASON
        )


def test_an_hr_step_is_decided_by_hr_not_reassigned(pending_exit, manager, new_manager, hr_user):
    workflow.approve(pending_exit, actor=manager.user)
    with pytest.raises(ExitRefused, match="HR decides this step"):
        workflow.reassign_step(
            pending_exit, actor=hr_user, step=2, assignee=new_manager, reason=REASON
        )


# ---------------------------------------------------------------------------------------------
# Skip


def test_skipping_a_step_that_is_not_the_last_hands_the_exit_to_the_next_step(
    pending_exit, manager, hr_user
):
    Member.objects.filter(pk=manager.pk).update(status=MemberStatus.DEPARTED)
    exit_case = workflow.skip_step(pending_exit, actor=hr_user, step=1, reason=REASON)
    assert exit_case.state == ExitState.PENDING_APPROVAL
    skipped = step(exit_case, 1)
    assert skipped.decision == Decision.SKIPPED
    assert skipped.decided_by == hr_user
    assert skipped.comment == REASON
    assert skipped.history.order_by("-history_id").first().history_change_reason == "skip"
    event = AuditEvent.objects.get(action="approval_step_skipped")
    assert event.data["cannot_act"] == "departed"
    assert personal_data(event) == {"reason": REASON}
    assert not AuditEvent.objects.filter(action="exit_approved").exists()
    assert list(Exit.objects.waiting_for(hr_user)) == [exit_case]


def test_skipping_the_last_step_approves_the_exit_as_an_approval_would(
    enterprise, open_exit_for, member, manager, hr_user
):
    ApprovalChainStep.objects.create(
        enterprise=enterprise, position=1, approver=ApproverKind.DIRECT_MANAGER
    )
    exit_case = workflow.submit(open_exit_for(member), actor=member.user)
    freeze(manager)
    exit_case = workflow.skip_step(exit_case, actor=hr_user, step=1, reason=REASON)
    assert refreshed(exit_case).state == ExitState.HANDOVER
    assert history_reasons(exit_case)[-1] == "approve"
    actions = list(
        AuditEvent.objects.filter(exit_id=exit_case.pk)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["approval_step_skipped", "exit_approved"]
    # the member is told their exit was approved
    assert Notification.objects.filter(
        event=NotificationEvent.EXIT_APPROVED, recipient_member=member
    ).exists()


@pytest.mark.parametrize(
    "situation, message",
    [
        ("can_act", "李经理 can still decide this step"),
        ("no_reason", "Say why the step is skipped."),
        ("not_hr", "Only HR of the enterprise can reassign or skip an approval step."),
    ],
)
def test_skip_is_refused_and_changes_nothing(
    situation, message, pending_exit, manager, hr_user, it_user
):
    if situation != "can_act":
        freeze(manager)
    actor = it_user if situation == "not_hr" else hr_user
    reason = "" if situation == "no_reason" else REASON
    with pytest.raises(ExitRefused, match=message):
        workflow.skip_step(pending_exit, actor=actor, step=1, reason=reason)
    assert step(pending_exit, 1).decision == Decision.PENDING
    assert not AuditEvent.objects.filter(action="approval_step_skipped").exists()


# ---------------------------------------------------------------------------------------------
# The exit page and the confirmation pages


def exit_page(exit_case):
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


def test_the_exit_page_offers_the_way_out_only_when_the_approver_cannot_act(
    pending_exit, manager, hr_client
):
    assert "reassign-step-button" not in hr_client.get(exit_page(pending_exit)).content.decode()
    freeze(manager)
    page = hr_client.get(exit_page(pending_exit)).content.decode()
    assert "reassign-step-button" in page
    assert "skip-step-button" in page
    assert "李经理&#x27;s account is frozen." in page


def test_the_skip_confirmation_says_what_happens_and_changes_nothing_until_posted(
    pending_exit, manager, hr_client
):
    freeze(manager)
    url = reverse("admin:offboarding_exit_skip_step", args=[pending_exit.pk, 1])
    page = hr_client.get(url).content.decode()
    assert "Skip step 1 (Direct manager)" in page
    assert "Step 2 (HR) decides next." in page
    assert step(pending_exit, 1).decision == Decision.PENDING
    # without a reason: the form says so
    assert "Say why" in hr_client.post(url, {"reason": ""}).content.decode()
    response = hr_client.post(url, {"reason": REASON})
    assert response.status_code == 302
    assert step(pending_exit, 1).decision == Decision.SKIPPED


def test_the_reassign_confirmation_reassigns_on_post(pending_exit, manager, new_manager, hr_client):
    cut_login(manager)
    url = reverse("admin:offboarding_exit_reassign_step", args=[pending_exit.pk, 1])
    page = hr_client.get(url).content.decode()
    assert "李经理&#x27;s login is deactivated" in page
    assert step(pending_exit, 1).assignee == manager
    response = hr_client.post(url, {"assignee": new_manager.pk, "reason": REASON})
    assert response.status_code == 302
    assert step(pending_exit, 1).assignee == new_manager
    # the exit's timeline says who reassigned the step, to whom and why
    page = hr_client.get(exit_page(pending_exit)).content.decode()
    assert f"Step 1 (Direct manager) reassigned to 王主管: “{REASON}”" in page


@pytest.mark.parametrize("who", ["it_user", "compliance_user"])
def test_only_hr_reaches_the_unblock_pages(who, request, pending_exit, manager, client):
    freeze(manager)
    client.force_login(request.getfixturevalue(who))
    for name in ("reassign_step", "skip_step"):
        url = reverse(f"admin:offboarding_exit_{name}", args=[pending_exit.pk, 1])
        assert client.post(url, {"reason": REASON}).status_code == 403
    assert step(pending_exit, 1).decision == Decision.PENDING


def test_the_pages_send_back_when_the_approver_can_act(pending_exit, hr_client):
    url = reverse("admin:offboarding_exit_skip_step", args=[pending_exit.pk, 1])
    response = hr_client.post(url, {"reason": REASON}, follow=True)
    assert "does not wait on an approver who cannot act" in response.content.decode()
    assert step(pending_exit, 1).decision == Decision.PENDING
