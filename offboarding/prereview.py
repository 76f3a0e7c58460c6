"""Pre-review (智能化预审, X-6): every blocker of an exit's next steps, found in one place.

The admin page, the self-service page and the refusals of `submit`, `remove` and `complete` all read
`prereview()`, so a person sees everything that stands in the way before pressing a button, and a
refused transition says exactly what the page said.

A super admin's exit, of any kind, waits for the super-admin handover (H-1) twice: it cannot
complete, and — since a removal cuts the login at once — the member cannot be removed, so that an
enterprise always has a super admin who can sign in (no 权限真空期).
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from directory.choices import MemberRole, MemberStatus
from directory.models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    ExternalContact,
    SharedCalendar,
    ThirdPartyBinding,
)

from .choices import AutoCheck, HandoverState
from .models import SuperAdminHandover

SUBMIT = "submit"
REMOVE = "remove"
COMPLETE = "complete"


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    # The transitions this blocker stops: "submit", "remove" and/or "complete".
    blocks: frozenset[str]


# Resource type → (model, automatic check, message for n still owned).
_OWNED = (
    (
        ExternalContact,
        AutoCheck.EXTERNAL_CONTACTS,
        lambda n: ngettext(
            "Still owns %(n)d external contact: hand it over to a successor.",
            "Still owns %(n)d external contacts: hand them over to a successor.",
            n,
        ),
    ),
    (
        CustomerGroup,
        AutoCheck.CUSTOMER_GROUPS,
        lambda n: ngettext(
            "Still owns %(n)d customer group: hand it over, or its chat is restricted.",
            "Still owns %(n)d customer groups: hand them over, or their chats are restricted.",
            n,
        ),
    ),
    (
        AppAuthorization,
        AutoCheck.APP_AUTHORIZATIONS,
        lambda n: ngettext(
            "Still holds %(n)d self-built app authorization: transfer or rebind it.",
            "Still holds %(n)d self-built app authorizations: transfer or rebind them.",
            n,
        ),
    ),
    (
        ThirdPartyBinding,
        AutoCheck.THIRD_PARTY_BINDINGS,
        lambda n: ngettext(
            "Still holds %(n)d third-party app binding (CRM…): re-authorize it.",
            "Still holds %(n)d third-party app bindings (CRM…): re-authorize them.",
            n,
        ),
    ),
    (
        ApprovalTemplate,
        AutoCheck.APPROVAL_TEMPLATES,
        lambda n: ngettext(
            "Still owns %(n)d approval template: transfer it, or approvals using it break.",
            "Still owns %(n)d approval templates: transfer them, or approvals using them break.",
            n,
        ),
    ),
    (
        SharedCalendar,
        AutoCheck.SHARED_CALENDARS,
        lambda n: ngettext(
            "Still owns %(n)d shared calendar: transfer or clean it up.",
            "Still owns %(n)d shared calendars: transfer or clean them up.",
            n,
        ),
    ),
)


def owned_counts(member) -> dict[AutoCheck, int]:
    """How many of each resource type the member still owns (one indexed count per type)."""
    return {check: model.objects.filter(owner=member).count() for model, check, _ in _OWNED}


def holds_admin_rights(member) -> bool:
    return member.role != MemberRole.MEMBER or member.is_backup_admin


def auto_check_results(member, counts=None) -> dict[str, bool]:
    """Whether each automatic checklist check passes for `member` now."""
    counts = owned_counts(member) if counts is None else counts
    results = {check.value: counts[check] == 0 for check in counts}
    results[AutoCheck.ADMIN_RIGHTS.value] = not holds_admin_rights(member)
    return results


def item_is_done(item, auto_results) -> bool:
    if item.auto_check:
        return auto_results[item.auto_check]
    return item.is_signed_off


def prereview(exit_case, counts=None) -> list[Blocker]:
    """Every blocker of `exit_case`'s submit and completion, in the order a person fixes them.
    `counts` may pass `owned_counts(member)` when the caller has it already."""
    member = exit_case.member
    blockers: list[Blocker] = []
    both = frozenset({SUBMIT, REMOVE, COMPLETE})
    complete = frozenset({COMPLETE})

    if member.status != MemberStatus.ACTIVE:
        blockers.append(
            Blocker(
                "member_not_active",
                _("%(name)s is %(status)s: only an active member can leave through an exit.")
                % {"name": member.name, "status": member.get_status_display()},
                both,
            )
        )

    counts = owned_counts(member) if counts is None else counts
    for _model, check, message in _OWNED:
        if counts[check]:
            blockers.append(
                Blocker(f"owns_{check}", message(counts[check]) % {"n": counts[check]}, complete)
            )

    if member.role == MemberRole.SUPER_ADMIN:
        # A removal cuts the login at once: a super admin removed before the handover could never
        # reach the handover page, and nobody could administer the enterprise (权限真空期). So
        # the handover stops the removal too, whatever kind of exit this is (H-3).
        blockers.append(
            Blocker("super_admin", _super_admin_message(exit_case), frozenset({REMOVE, COMPLETE}))
        )
    elif member.role == MemberRole.ADMIN:
        blockers.append(
            Blocker(
                "admin_role",
                _("%(name)s still holds the admin role: hand admin rights over first.")
                % {"name": member.name},
                complete,
            )
        )
    if member.is_backup_admin:
        blockers.append(
            Blocker(
                "backup_admin",
                _(
                    "%(name)s is the backup admin: the super admin names another backup admin, "
                    "or withdraws the designation, on their “Backup admin” page first."
                )
                % {"name": member.name},
                complete,
            )
        )

    for item in exit_case.checklist.all():
        if not item.auto_check and not item.is_signed_off:
            blockers.append(
                Blocker(
                    f"checklist_{item.code}",
                    _("Checklist: “%(title)s” is not signed off by %(team)s yet.")
                    % {"title": item.title_shown, "team": item.get_team_display()},
                    complete,
                )
            )

    if exit_case.hr_signed_off_at is None:
        blockers.append(
            Blocker("hr_review", _("HR has not signed off the exit review yet."), complete)
        )
    if exit_case.it_signed_off_at is None:
        blockers.append(
            Blocker("it_review", _("IT has not signed off the exit review yet."), complete)
        )
    return blockers


def _super_admin_message(exit_case) -> str:
    """What stands between a super admin and their exit's completion: the handover (H-1)."""
    member = exit_case.member
    waiting = (
        SuperAdminHandover.objects.filter(
            from_member=member, state=HandoverState.AWAITING_CONFIRMATION
        )
        .select_related("to_member")
        .first()
    )
    if waiting is not None:
        return _(
            "%(name)s named %(new)s as the new super admin: the exit can complete, or %(name)s "
            "be removed, once %(new)s confirms with the code of their authenticator app."
        ) % {"name": member.name, "new": waiting.to_member.name}
    return _(
        "%(name)s is the super admin: a new super admin must be named and confirmed "
        "before this exit can complete or %(name)s can be removed. %(name)s "
        "names them on their “Super admin handover” page."
    ) % {"name": member.name}


def blockers_for(exit_case, step: str) -> list[Blocker]:
    return [blocker for blocker in prereview(exit_case) if step in blocker.blocks]
