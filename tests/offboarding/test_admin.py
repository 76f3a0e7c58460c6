"""The exit admin (U-2): the Exit page shows what stands in the way and only the buttons the user
may press; every button goes through the workflow; nothing crosses enterprises (S-2); bad input
is an error on the page, never a 500 (S-4)."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from directory.choices import MemberStatus, StaffRole
from directory.permissions import grant_access
from offboarding import services, workflow
from offboarding.choices import DEFAULT_CHECKLIST, ExitKind, ExitState, Team
from offboarding.models import ApprovalChainStep, ChecklistTemplateItem, Exit
from tests import factories

pytestmark = pytest.mark.django_db


# Helpers (exits are opened with tests/offboarding/conftest.py's open_exit_for)


def sign_off_everything(exit_case, *, hr_user, it_user):
    """Every manual checklist item and both reviews signed off: nothing blocks completion."""
    users = {Team.HR: hr_user, Team.IT: it_user}
    for item in exit_case.checklist.filter(auto_check=""):
        services.sign_off_item(item, actor=users[item.team], note="done")
    services.sign_off_review(exit_case, actor=hr_user, team=Team.HR)
    services.sign_off_review(exit_case, actor=it_user, team=Team.IT)


def change_url(exit_case):
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


def transition_url(exit_case, name):
    return reverse("admin:offboarding_exit_transition", args=[exit_case.pk, name])


def item_url(item):
    return reverse("admin:offboarding_exit_sign_off_item", args=[item.exit_case_id, item.pk])


def review_url(exit_case, team):
    return reverse("admin:offboarding_exit_sign_off_review", args=[exit_case.pk, team])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def buttons_of(response):
    return {button["name"] for button in response.context["transition_buttons"]}


def state_of(exit_case):
    return Exit.objects.values_list("state", flat=True).get(pk=exit_case.pk)


@pytest.fixture
def it_client(client, it_user):
    client.force_login(it_user)
    return client


@pytest.fixture
def member(enterprise, super_admin):
    return factories.MemberFactory(
        enterprise=enterprise, department=super_admin.department, name="李四"
    )


@pytest.fixture
def draft(open_exit_for, member, hr_user):
    return open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)


@pytest.fixture
def handover(draft, hr_user):
    return workflow.remove(draft, actor=hr_user)


@pytest.fixture
def ready(handover, hr_user, it_user):
    sign_off_everything(handover, hr_user=hr_user, it_user=it_user)
    return handover


@pytest.fixture
def outsider_client(client):
    outsider = factories.StaffFactory(
        username="outsider", enterprise__name="别家公司", role=StaffRole.HR
    )
    client.force_login(outsider)
    return client


# The Exit page


def test_hr_sees_the_exit_page_with_prereview_checklist_and_the_draft_buttons(hr_client, draft):
    factories.ExternalContactFactory(enterprise=draft.enterprise, owner=draft.member)

    response = hr_client.get(change_url(draft))

    assert response.status_code == 200
    page = response.content.decode()
    assert buttons_of(response) == {"submit", "cancel", "remove"}
    assert "Pre-review" in page
    assert "Still owns 1 external contact" in page
    assert "Blocks: Complete" in page
    assert "HR has not signed off the exit review yet." in page
    # the checklist inline: every item, with a sign-off link for HR's manual items only
    assert all(str(title) in page for _code, title, _team, _check in DEFAULT_CHECKLIST)
    hr_manual = draft.checklist.get(code="work_files")
    it_manual = draft.checklist.get(code="account_access")
    assert item_url(hr_manual) in page
    assert item_url(it_manual) not in page
    assert review_url(draft, "hr") in page
    assert review_url(draft, "it") not in page


def test_the_checklist_shows_automatic_items_done_from_the_data(hr_client, draft):
    factories.CustomerGroupFactory(enterprise=draft.enterprise, owner=draft.member)

    response = hr_client.get(change_url(draft))

    inline = next(
        formset
        for formset in response.context["inline_admin_formsets"]
        if formset.opts.model._meta.model_name == "checklistitem"
    )
    done = {form.instance.code: inline.opts.done(form.instance) for form in inline.formset.forms}
    assert done["external_contacts"] is True
    assert done["customer_groups"] is False
    assert done["work_files"] is False


def test_the_exit_page_has_no_save_button_and_refuses_a_post(hr_client, draft):
    response = hr_client.get(change_url(draft))
    assert 'name="_save"' not in response.content.decode()

    response = hr_client.post(change_url(draft), {"reason": "changed behind the workflow"})

    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.reason == ""


def test_a_handover_exit_shows_complete_to_it(it_client, handover):
    response = it_client.get(change_url(handover))

    assert response.status_code == 200
    assert buttons_of(response) == {"complete"}


def test_a_handover_exit_shows_complete_and_cancel_to_hr(hr_client, handover):
    response = hr_client.get(change_url(handover))

    assert buttons_of(response) == {"complete", "cancel"}


def test_the_page_shows_a_timeline_of_the_exits_history(hr_client, handover):
    response = hr_client.get(change_url(handover))

    timeline = response.context["timeline"]
    assert [entry["what"] for entry in timeline] == ["Remove member", "Opened"]
    assert timeline[0]["state"] == "Handover"
    assert timeline[0]["who"] == "hr"


def test_every_column_of_the_exit_page_has_a_header(hr_client, handover):
    # The approval steps and the checklist are shown, not edited: no empty header, no delete column
    response = hr_client.get(change_url(handover))
    html = response.content.decode()

    used = [template.name for template in response.templates]
    assert "admin/offboarding/exit/readonly_tabular.html" in used
    assert re.findall(r"<th[^>]*>\s*</th>", html) == []
    assert "Delete?" not in html


def test_the_undo_deadline_is_shown_in_the_enterprises_time_zone(hr_client, ready, hr_user):
    completed = workflow.complete(ready, actor=hr_user)
    local = timezone.localtime(completed.undo_deadline, completed.enterprise.time_zone)

    response = hr_client.get(change_url(completed))

    assert response.context["undo_deadline"] == formats.localize(local)
    assert "Asia/Shanghai" in response.content.decode()
    assert response.context["undo_window_open"] is True


# Transitions


def test_get_on_a_transition_url_shows_a_confirmation_and_changes_nothing(hr_client, draft):
    history_rows = draft.history.count()

    response = hr_client.get(transition_url(draft, "submit"))

    assert response.status_code == 200
    assert "Yes, I’m sure" in response.content.decode()
    assert state_of(draft) == ExitState.DRAFT
    assert draft.history.count() == history_rows


def test_posting_a_transition_runs_it_and_says_so(hr_client, draft):
    response = hr_client.post(transition_url(draft, "submit"))

    assert response.status_code == 302
    assert response.url == change_url(draft)
    assert state_of(draft) == ExitState.PENDING_APPROVAL
    assert any("now Pending approval" in message for message in messages_of(response))
    latest = draft.history.latest()
    assert latest.history_change_reason == "submit"
    assert latest.history_user.username == "hr"


def test_a_refused_transition_shows_the_workflows_message_and_changes_nothing(hr_client, handover):
    response = hr_client.post(transition_url(handover, "complete"))

    assert response.status_code == 302
    assert any("HR has not signed off" in message for message in messages_of(response))
    assert state_of(handover) == ExitState.HANDOVER


def test_it_completes_a_handover_exit_with_nothing_left(it_client, ready):
    response = it_client.post(transition_url(ready, "complete"))

    assert state_of(ready) == ExitState.COMPLETED
    assert any("now Completed" in message for message in messages_of(response))
    ready.member.refresh_from_db()
    assert ready.member.status == MemberStatus.DEPARTED


def test_a_transition_the_user_may_not_run_is_refused(it_client, draft):
    response = it_client.post(transition_url(draft, "cancel"))

    assert any("not allowed to cancel" in message for message in messages_of(response))
    assert state_of(draft) == ExitState.DRAFT


def test_a_get_on_a_transition_not_open_now_goes_back_with_a_message(hr_client, draft):
    response = hr_client.get(transition_url(draft, "complete"))

    assert response.status_code == 302
    assert any("not open to you" in message for message in messages_of(response))


def test_an_unknown_transition_is_not_found(hr_client, draft):
    response = hr_client.post(transition_url(draft, "explode"))

    assert response.status_code == 404


def test_hr_approves_both_default_steps_when_nobody_else_is_assigned(hr_client, draft, hr_user):
    # the member has no manager: HR decides both steps of the default chain
    workflow.submit(draft, actor=hr_user)

    first = hr_client.post(transition_url(draft, "approve"), {"comment": "好的"})
    assert any("next step" in message for message in messages_of(first))
    assert state_of(draft) == ExitState.PENDING_APPROVAL

    hr_client.post(transition_url(draft, "approve"), {"comment": ""})
    assert state_of(draft) == ExitState.HANDOVER
    assert list(draft.approvals.values_list("comment", flat=True)) == ["好的", ""]


def test_reject_without_a_reason_is_an_error_on_the_confirmation_page(hr_client, draft, hr_user):
    workflow.submit(draft, actor=hr_user)

    response = hr_client.post(transition_url(draft, "reject"), {"reason": "   "})

    assert response.status_code == 200
    assert "Say why the exit is rejected" in response.content.decode()
    assert state_of(draft) == ExitState.PENDING_APPROVAL


def test_reject_with_a_reason_rejects(hr_client, draft, hr_user):
    workflow.submit(draft, actor=hr_user)

    hr_client.post(transition_url(draft, "reject"), {"reason": "项目未交接"})

    draft.refresh_from_db()
    assert draft.state == ExitState.REJECTED
    assert draft.rejection_reason == "项目未交接"


def test_undo_with_a_wrong_password_is_refused(hr_client, ready, hr_user):
    workflow.complete(ready, actor=hr_user)

    response = hr_client.post(transition_url(ready, "undo"), {"password": "wrong"})

    # The confirmation page again, with the refusal on its form (not a redirect).
    assert response.status_code == 200
    assert "password was not right" in response.content.decode()
    assert state_of(ready) == ExitState.COMPLETED


def test_undo_with_the_password_within_the_window_reverts(hr_client, ready, hr_user):
    workflow.complete(ready, actor=hr_user)

    response = hr_client.post(transition_url(ready, "undo"), {"password": factories.PASSWORD})

    assert state_of(ready) == ExitState.REVERTED
    assert any("now Reverted" in message for message in messages_of(response))
    ready.member.refresh_from_db()
    assert ready.member.status == MemberStatus.ACTIVE


def test_undo_after_the_window_is_refused(hr_client, ready, hr_user):
    workflow.complete(ready, actor=hr_user)
    Exit.objects.filter(pk=ready.pk).update(undo_deadline=timezone.now() - timedelta(minutes=1))

    response = hr_client.post(transition_url(ready, "undo"), {"password": factories.PASSWORD})

    assert response.status_code == 200
    assert "undo window ended" in response.content.decode()
    assert state_of(ready) == ExitState.COMPLETED


def _deadline_in_shanghai(exit_case):
    local = timezone.localtime(exit_case.undo_deadline, exit_case.enterprise.time_zone)
    return f"{local:%Y-%m-%d %H:%M} (Asia/Shanghai)"


def test_closing_before_the_undo_window_ends_names_the_deadline(hr_client, ready, hr_user):
    completed = workflow.complete(ready, actor=hr_user)
    expected = (
        f"The undo window is open until {_deadline_in_shanghai(completed)}: "
        "the exit can be closed after that."
    )

    # The close confirmation opened by its address, and the close posted: each refused with the
    # deadline (the second response carries the first's message too, not yet shown).
    opened = hr_client.get(transition_url(ready, "close"))
    assert messages_of(opened) == [expected]
    posted = hr_client.post(transition_url(ready, "close"))
    assert messages_of(posted) == [expected, expected]
    assert state_of(ready) == ExitState.COMPLETED


def test_closing_before_the_undo_window_ends_names_the_deadline_in_chinese(
    hr_client, ready, hr_user
):
    completed = workflow.complete(ready, actor=hr_user)

    response = hr_client.post(transition_url(ready, "close"), HTTP_ACCEPT_LANGUAGE="zh-hans")

    (message,) = messages_of(response)
    assert _deadline_in_shanghai(completed) in message
    assert "not allowed" not in message and "The undo window" not in message


# Sign-offs


def test_hr_signs_off_a_manual_checklist_item_with_a_note(hr_client, draft, hr_user):
    item = draft.checklist.get(code="work_files")

    page = hr_client.get(item_url(item))
    assert page.status_code == 200
    item.refresh_from_db()
    assert not item.is_signed_off

    response = hr_client.post(item_url(item), {"note": "交给了王五"})

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.signed_off_by == hr_user
    assert item.note == "交给了王五"
    assert any("is signed off" in message for message in messages_of(response))


def test_it_cannot_sign_off_an_hr_item(it_client, draft):
    item = draft.checklist.get(code="work_files")

    response = it_client.post(item_url(item), {"note": "not mine"})

    assert any("Only HR staff" in message for message in messages_of(response))
    item.refresh_from_db()
    assert not item.is_signed_off


def test_an_item_of_another_exit_is_not_found(hr_client, draft, open_exit_for, enterprise, hr_user):
    other = open_exit_for(
        factories.MemberFactory(enterprise=enterprise), kind=ExitKind.PASSIVE, actor=hr_user
    )
    item = other.checklist.get(code="work_files")

    url = reverse("admin:offboarding_exit_sign_off_item", args=[draft.pk, item.pk])
    response = hr_client.post(url, {"note": "wrong exit"})

    assert response.status_code == 404


def test_hr_signs_off_the_hr_review(hr_client, draft, hr_user):
    response = hr_client.post(review_url(draft, "hr"))

    draft.refresh_from_db()
    assert draft.hr_signed_off_by == hr_user
    assert any("HR review is signed off" in message for message in messages_of(response))
    assert draft.history.latest().history_change_reason == "hr_review"


def test_a_get_on_the_review_url_changes_nothing(hr_client, draft):
    response = hr_client.get(review_url(draft, "hr"))

    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.hr_signed_off_at is None


def test_hr_cannot_sign_off_the_it_review(hr_client, draft):
    response = hr_client.post(review_url(draft, "it"))

    assert any("Only IT staff" in message for message in messages_of(response))
    draft.refresh_from_db()
    assert draft.it_signed_off_at is None


# The tenant wall (S-2)


def test_another_enterprises_hr_cannot_open_or_move_the_exit(outsider_client, draft):
    page = outsider_client.get(change_url(draft))
    assert page.status_code == 302
    assert page.url == reverse("admin:index")

    for url, data in [
        (transition_url(draft, "cancel"), {}),
        (transition_url(draft, "remove"), {}),
        (item_url(draft.checklist.get(code="work_files")), {"note": "x"}),
        (review_url(draft, "hr"), {}),
    ]:
        assert outsider_client.get(url).status_code == 404, url
        assert outsider_client.post(url, data).status_code == 404, url

    draft.refresh_from_db()
    assert draft.state == ExitState.DRAFT
    assert draft.hr_signed_off_at is None
    assert not draft.checklist.filter(signed_off_at__isnull=False).exists()

    changelist = outsider_client.get(reverse("admin:offboarding_exit_changelist"))
    assert draft not in changelist.context["cl"].result_list


def test_compliance_reads_the_exit_but_gets_no_buttons(client, draft, compliance_user):
    client.force_login(compliance_user)

    page = client.get(change_url(draft))
    assert page.status_code == 200
    assert page.context["transition_buttons"] == []

    assert client.post(transition_url(draft, "cancel")).status_code == 403
    assert state_of(draft) == ExitState.DRAFT


def test_exits_are_deleted_only_by_superusers(hr_client, admin_client, draft):
    url = reverse("admin:offboarding_exit_delete", args=[draft.pk])

    assert hr_client.get(url).status_code == 403
    assert admin_client.get(url).status_code == 200


# Opening an exit


def test_hr_opens_an_exit_from_the_add_form(hr_client, member, super_admin):
    response = hr_client.post(
        reverse("admin:offboarding_exit_add"),
        {
            "member": member.pk,
            "kind": ExitKind.PASSIVE,
            "reason": "合同到期",
            "last_working_day": "2030-01-31",
            "successor": super_admin.pk,
        },
    )

    exit_case = Exit.objects.get(member=member)
    assert response.status_code == 302
    assert response.url == change_url(exit_case)
    assert exit_case.state == ExitState.DRAFT
    assert exit_case.requested_by.username == "hr"
    assert exit_case.successor == super_admin
    assert exit_case.checklist.count() == len(DEFAULT_CHECKLIST)
    assert exit_case.history.get().history_change_reason == "open"


def test_the_add_page_opens(hr_client):
    assert hr_client.get(reverse("admin:offboarding_exit_add")).status_code == 200


def test_opening_a_second_exit_for_a_member_is_a_form_error(hr_client, draft):
    response = hr_client.post(
        reverse("admin:offboarding_exit_add"),
        {
            "member": draft.member_id,
            "kind": ExitKind.PASSIVE,
            "reason": "",
            "last_working_day": "2030-01-31",
        },
    )

    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert "already has an exit in progress" in errors
    assert Exit.objects.filter(member=draft.member).count() == 1


def test_a_voluntary_exit_in_the_past_is_a_form_error_and_writes_nothing(hr_client, member):
    response = hr_client.post(
        reverse("admin:offboarding_exit_add"),
        {"member": member.pk, "kind": ExitKind.VOLUNTARY, "last_working_day": "2001-01-01"},
    )

    assert response.status_code == 200
    assert "cannot be in the past" in str(response.context["adminform"].form.errors)
    assert not Exit.objects.exists()


def test_a_member_of_another_enterprise_cannot_be_picked(hr_client):
    other = factories.EnterpriseFactory(name="别家公司")
    stranger = factories.MemberFactory(enterprise=other)

    response = hr_client.post(
        reverse("admin:offboarding_exit_add"),
        {"member": stranger.pk, "kind": ExitKind.PASSIVE, "last_working_day": "2030-01-31"},
    )

    assert response.status_code == 200
    assert "member" in response.context["adminform"].form.errors
    assert not Exit.objects.exists()


# The changelist


def test_exit_changelist_queries_do_not_grow_with_exits(
    hr_client, open_exit_for, enterprise, hr_user
):
    department = factories.DepartmentFactory(enterprise=enterprise)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = hr_client.get(reverse("admin:offboarding_exit_changelist"))
        assert response.status_code == 200
        return len(queries), len(response.context["cl"].result_list)

    for member in factories.MemberFactory.create_batch(
        2, enterprise=enterprise, department=department
    ):
        open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    with_two, shown = count_queries()
    assert shown == 2

    for member in factories.MemberFactory.create_batch(
        28, enterprise=enterprise, department=department
    ):
        open_exit_for(member, kind=ExitKind.PASSIVE, actor=hr_user)
    assert count_queries() == (with_two, 30)


def test_the_changelist_searches_by_employee_number(
    hr_client, draft, open_exit_for, enterprise, hr_user
):
    open_exit_for(
        factories.MemberFactory(enterprise=enterprise), kind=ExitKind.PASSIVE, actor=hr_user
    )

    response = hr_client.get(
        reverse("admin:offboarding_exit_changelist"), {"q": draft.member.employee_number}
    )

    assert list(response.context["cl"].result_list) == [draft]


# The approval chain and the checklist template


def test_the_chain_changelist_says_an_enterprise_without_steps_uses_the_default(
    hr_client, enterprise
):
    response = hr_client.get(reverse("admin:offboarding_approvalchainstep_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "uses the default chain: Direct manager → HR" in page
    assert f"{enterprise.name} has no chain of its own" in page

    ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver="hr")
    response = hr_client.get(reverse("admin:offboarding_approvalchainstep_changelist"))
    assert f"{enterprise.name} has no chain of its own" not in response.content.decode()


def test_hr_copies_the_default_checklist_to_their_enterprise(hr_client, enterprise, hr_user):
    page = hr_client.get(reverse("admin:offboarding_checklisttemplateitem_changelist"))
    assert f"Copy the default 12 items to {enterprise.name}" in page.content.decode()
    url = reverse("admin:offboarding_checklisttemplateitem_copy_default")

    assert hr_client.get(url).status_code == 405
    response = hr_client.post(url, {"enterprise": enterprise.pk})

    assert response.status_code == 302
    items = ChecklistTemplateItem.objects.filter(enterprise=enterprise).order_by("position")
    assert [item.code for item in items] == [code for code, *_rest in DEFAULT_CHECKLIST]
    assert items[0].history.get().history_user == hr_user

    again = hr_client.post(url, {"enterprise": enterprise.pk})
    assert any("nothing was copied" in message for message in messages_of(again))
    assert items.count() == len(DEFAULT_CHECKLIST)


def test_copying_the_checklist_to_another_enterprise_is_not_found(hr_client):
    other = factories.EnterpriseFactory(name="别家公司")
    url = reverse("admin:offboarding_checklisttemplateitem_copy_default")

    assert hr_client.post(url, {"enterprise": other.pk}).status_code == 404
    assert hr_client.post(url, {"enterprise": "not-a-number"}).status_code == 404
    assert not ChecklistTemplateItem.objects.exists()


def test_it_sees_the_checklist_template_but_cannot_copy_it(it_client, enterprise):
    page = it_client.get(reverse("admin:offboarding_checklisttemplateitem_changelist"))
    assert page.status_code == 200
    assert "Copy the default" not in page.content.decode()

    url = reverse("admin:offboarding_checklisttemplateitem_copy_default")
    assert it_client.post(url, {"enterprise": enterprise.pk}).status_code == 403


def _chain_formset_data(steps, positions):
    data = {
        "form-TOTAL_FORMS": str(len(steps)),
        "form-INITIAL_FORMS": str(len(steps)),
        "_save": "Save",
    }
    for index, (step, position) in enumerate(zip(steps, positions, strict=True)):
        data[f"form-{index}-id"] = str(step.pk)
        data[f"form-{index}-position"] = str(position)
        data[f"form-{index}-approver"] = step.approver
    return data


def test_two_steps_edited_onto_one_position_are_an_error_not_a_500(hr_client, enterprise):
    steps = [
        ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver="hr"),
        ApprovalChainStep.objects.create(
            enterprise=enterprise, position=2, approver="direct_manager"
        ),
    ]
    url = reverse("admin:offboarding_approvalchainstep_changelist")

    # onto a position another row holds
    response = hr_client.post(url, _chain_formset_data(steps, [2, 2]))
    assert response.status_code == 200
    assert "cannot share a position" in response.content.decode()

    # both onto a free position in one submit
    response = hr_client.post(url, _chain_formset_data(steps, [3, 3]))
    assert response.status_code == 200
    assert "cannot share a position" in response.content.decode()
    assert sorted(ApprovalChainStep.objects.values_list("position", flat=True)) == [1, 2]

    # a real move still saves
    response = hr_client.post(url, _chain_formset_data(steps, [1, 5]))
    assert response.status_code == 302
    assert sorted(ApprovalChainStep.objects.values_list("position", flat=True)) == [1, 5]


def test_a_chain_step_changed_onto_a_taken_position_is_a_form_error(hr_client, enterprise):
    ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver="hr")
    step = ApprovalChainStep.objects.create(
        enterprise=enterprise, position=2, approver="direct_manager"
    )

    response = hr_client.post(
        reverse("admin:offboarding_approvalchainstep_change", args=[step.pk]),
        {"position": 1, "approver": "direct_manager"},
    )

    assert response.status_code == 200
    assert "cannot share a position" in str(response.context["adminform"].form.errors)
    step.refresh_from_db()
    assert step.position == 2


def test_hr_adds_a_chain_step(hr_client, enterprise):
    response = hr_client.post(
        reverse("admin:offboarding_approvalchainstep_add"),
        {"enterprise": enterprise.pk, "position": 1, "approver": "department_head"},
    )

    assert response.status_code == 302
    assert ApprovalChainStep.objects.get().approver == "department_head"


def test_template_changelist_queries_do_not_grow_with_rows(hr_client, enterprise):
    url = reverse("admin:offboarding_checklisttemplateitem_changelist")
    ChecklistTemplateItem.objects.create(
        enterprise=enterprise, position=1, code="a", title="A", team=Team.HR
    )
    with CaptureQueriesContext(connection) as one:
        hr_client.get(url)
    for position in range(2, 20):
        ChecklistTemplateItem.objects.create(
            enterprise=enterprise, position=position, code=f"c{position}", title="C", team="it"
        )
    with CaptureQueriesContext(connection) as many:
        hr_client.get(url)
    assert len(many) == len(one)


def test_exit_page_queries_do_not_grow_with_the_checklist(
    hr_client, open_exit_for, enterprise, hr_user
):
    def exit_with_items(count):
        ChecklistTemplateItem.objects.filter(enterprise=enterprise).delete()
        ChecklistTemplateItem.objects.bulk_create(
            ChecklistTemplateItem(
                enterprise=enterprise, position=n, code=f"item{n}", title=f"Item {n}", team="hr"
            )
            for n in range(1, count + 1)
        )
        exit_case = open_exit_for(
            factories.MemberFactory(enterprise=enterprise), kind=ExitKind.PASSIVE, actor=hr_user
        )
        for item in exit_case.checklist.all()[: count // 2]:
            services.sign_off_item(item, actor=hr_user, note="ok")
        return exit_case

    def count_queries(exit_case):
        with CaptureQueriesContext(connection) as queries:
            response = hr_client.get(change_url(exit_case))
        assert response.status_code == 200
        return len(queries)

    small, large = exit_with_items(2), exit_with_items(30)
    count_queries(small)  # warm the content-type and permission caches
    assert count_queries(large) == count_queries(small)


def test_the_approval_steps_show_once_the_exit_is_submitted(hr_client, draft, hr_user):
    def approval_inline(response):
        return [
            formset
            for formset in response.context["inline_admin_formsets"]
            if formset.opts.model._meta.model_name == "exitapproval"
        ]

    assert approval_inline(hr_client.get(change_url(draft))) == []

    workflow.submit(draft, actor=hr_user)
    hr_client.post(transition_url(draft, "approve"), {"comment": "同意"})
    response = hr_client.get(change_url(draft))

    (inline,) = approval_inline(response)
    steps = [form.instance for form in inline.formset.forms]
    assert [step.get_approver_display() for step in steps] == ["Direct manager", "HR"]
    assert inline.opts.decider(steps[0]) == "HR"  # the member has no manager
    page = response.content.decode()
    assert "同意" in page
    assert "Step 1 (Direct manager): Approved" in page  # in the timeline


def test_the_chain_of_an_enterprise_where_one_works_as_it_is_not_theirs_to_edit(client, enterprise):
    # given a person who is HR of the first enterprise and IT of a second, each with a chain
    second = factories.EnterpriseFactory(name="第二家")
    person = factories.StaffUserFactory(username="hr-here-it-there")
    grant_access(user=person, enterprise=enterprise, role="hr")
    grant_access(user=person, enterprise=second, role="it")
    own = ApprovalChainStep.objects.create(enterprise=enterprise, position=1, approver="hr")
    ApprovalChainStep.objects.create(enterprise=second, position=1, approver="hr")
    client.force_login(person)
    # when they open the approval chain
    response = client.get(reverse("admin:offboarding_approvalchainstep_changelist"))
    # then only the chain of the enterprise where they are HR is listed, and editable
    assert list(response.context["cl"].result_list) == [own]
