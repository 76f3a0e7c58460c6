"""The plain web pages (not the admin): managers' approvals (X-3) and the self-service exit (X-9).

Views are interfaces: they read through querysets and `rules`, validate a form, call one service
or workflow function, turn an ExitRefused into the message a person reads, and redirect. Whether
something may happen is never decided here: the workflow refuses, and the page shows why.

Who sees what (S-1, S-2): the approvals inbox lists `Exit.objects.waiting_for(user)`; an exit's
approval page is found only among exits the user decides now, decided before, or is assigned a
step of — anything else is a 404, so changing the id in the address reveals nothing. The
self-service pages only ever look at the logged-in user's own member.
"""

from base64 import b32encode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from directory.choices import HandoverPolicy
from directory.models import Member

from . import backup, handover, rules, selectors, services, todo, workflow
from .choices import (
    OPEN_HANDOVER_STATES,
    OPEN_STATES,
    ApproverKind,
    BackupDesignationState,
    ExitState,
    HandoverState,
    Transition,
)
from .exceptions import ExitRefused
from .forms import (
    AuthenticatorCodeForm,
    BackupDesignationForm,
    CancelExitForm,
    DecisionForm,
    ExitRequestForm,
    HandoverRequestForm,
    PasswordForm,
    ReportStolenForm,
    UnfreezeForm,
    WithdrawBackupForm,
    WithdrawHandoverForm,
)
from .models import AccountFreeze, BackupAdminDesignation, Exit, SuperAdminHandover
from .prereview import prereview

# ---------------------------------------------------------------------------------------------
# Reads


def _posted(request):
    """The form data of a POST, even an empty one (`request.POST or None` would leave an empty
    POST unbound, and its errors unshown)."""
    return request.POST if request.method == "POST" else None


# ---------------------------------------------------------------------------------------------
# Home


@login_required
@require_GET
def home(request):
    user = request.user
    member = selectors.member_of(user)
    # What waits for the user (offboarding/todo.py): the to-do list above the tiles.
    waiting = todo.member_waiting(user, member)
    waiting_count = waiting["approvals_count"]
    open_exit = waiting["own_exit"]
    handover_to_confirm = (
        member is not None
        and SuperAdminHandover.objects.filter(
            to_member=member, state__in=OPEN_HANDOVER_STATES
        ).exists()
    )
    designation_to_accept = (
        member is not None
        and BackupAdminDesignation.objects.filter(
            member=member, state=BackupDesignationState.AWAITING_ACCEPTANCE
        ).exists()
    )
    return render(
        request,
        "offboarding/home.html",
        {
            "member": member,
            "todo_items": todo.sorted_items(waiting["items"]),
            # The old super admin, still employed after the handover: their emergency page.
            "emergency_window": handover.open_window_for(user) if member else None,
            "open_exit": open_exit,
            "waiting_count": waiting_count,
            "decides_approvals": waiting_count > 0 or selectors.may_decide_approvals(user, member),
            "handover_to_confirm": handover_to_confirm,
            "shows_handover": handover_to_confirm
            or (member is not None and member.is_active_super_admin),
            "designation_to_accept": designation_to_accept,
            "shows_backup": designation_to_accept
            or (member is not None and member.is_active_super_admin),
        },
    )


# ---------------------------------------------------------------------------------------------
# Approvals (managers, department heads, HR)

APPROVALS_PER_PAGE = 25


@login_required
@require_GET
def approval_inbox(request):
    waiting = selectors.with_current_step(
        Exit.objects.with_people().waiting_for(request.user)
    ).order_by("submitted_at", "pk")
    # 25 a page, the oldest request first; a page number out of range shows the last page.
    page = Paginator(waiting, APPROVALS_PER_PAGE).get_page(request.GET.get("page"))
    exits = list(page)
    for exit_case in exits:
        exit_case.current_step_label = (
            ApproverKind(exit_case.current_approver).label if exit_case.current_approver else ""
        )
    return render(
        request,
        "offboarding/approval_inbox.html",
        {"exits": exits, "page": page, "total": page.paginator.count},
    )


@login_required
@require_http_methods(["GET", "POST"])
def approval_detail(request, pk: int):
    exit_case = get_object_or_404(Exit.objects.with_people().open_to_approver(request.user), pk=pk)
    steps = selectors.steps_of(exit_case)
    current_position = selectors.current_position(steps)
    form = DecisionForm(_posted(request), initial={"step": current_position})
    if request.method == "POST" and form.is_valid():
        comment, step = form.cleaned_data["comment"], form.cleaned_data["step"]
        try:
            if form.is_approval:
                decided = workflow.approve(
                    exit_case, actor=request.user, comment=comment, step=step
                )
            else:
                decided = workflow.reject(exit_case, actor=request.user, reason=comment, step=step)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, _decision_message(decided, approved=form.is_approval))
            return redirect("offboarding:approvals")

    return render(
        request,
        "offboarding/approval_detail.html",
        {
            "exit_case": exit_case,
            "steps": steps,
            "current_position": current_position,
            "blockers": prereview(exit_case),
            "may_decide": rules.is_current_approver.test(request.user, exit_case),
            "form": form,
        },
    )


def _decision_message(exit_case: Exit, *, approved: bool) -> str:
    name = exit_case.member.name
    if not approved:
        return _("You rejected the exit of %(name)s. They will read your reason.") % {"name": name}
    if exit_case.state == ExitState.PENDING_APPROVAL:
        return _("You approved the exit of %(name)s. The next step decides now.") % {"name": name}
    return _("You approved the exit of %(name)s. Every step is approved: the handover starts.") % {
        "name": name
    }


# ---------------------------------------------------------------------------------------------
# Self-service (「我」-「设置」-「管理企业」-「退出企业」)


def _own_exits(user):
    return Exit.objects.with_people().filter(member__user=user)


def _submit_and_report(request, exit_case: Exit) -> None:
    """Submit a draft; a refusal leaves the draft as it is and says why."""
    try:
        workflow.submit(exit_case, actor=request.user)
    except ExitRefused as refusal:
        messages.error(
            request,
            _("Your request is saved as a draft but was not sent for approval: %(why)s")
            % {"why": refusal},
        )
    else:
        messages.success(request, _("Your exit request was sent for approval."))


def _my_exit_context(request, member: Member, form) -> dict:
    open_exit = _own_exits(request.user).open().first()
    context = {
        "member": member,
        "form": form,
        "open_exit": open_exit,
        "past_exits": _own_exits(request.user).exclude(state__in=OPEN_STATES),
    }
    if open_exit is not None:
        steps = selectors.steps_of(open_exit)
        transitions = workflow.available_transitions(open_exit, request.user)
        context.update(
            steps=steps,
            current_position=selectors.current_position(steps),
            blockers=prereview(open_exit),
            may_submit=Transition.SUBMIT in transitions,
            may_cancel=Transition.CANCEL in transitions,
            cancel_form=CancelExitForm(),
        )
    return context


@login_required
@require_http_methods(["GET", "POST"])
def my_exit(request):
    member = selectors.member_of(request.user)
    if member is None:
        return render(request, "offboarding/no_member.html", status=404)
    form = ExitRequestForm(_posted(request), today=services.local_today(member.enterprise))
    if request.method == "POST" and form.is_valid():
        try:
            exit_case = services.open_exit(
                member=member,
                kind=services.voluntary_kind_for(member),
                last_working_day=form.cleaned_data["last_working_day"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except ExitRefused as refusal:
            if not _own_exits(request.user).open().exists():
                # The form is on the page: show it there, beside its field if it has one.
                field = refusal.field if refusal.field in form.fields else None
                form.add_error(field, str(refusal))
            else:
                # A second request while one is open (a double submit, say): the page shows
                # the open request instead of the form, and the message says why nothing changed.
                messages.error(request, str(refusal))
                return redirect("offboarding:my_exit")
        else:
            _submit_and_report(request, exit_case)
            return redirect("offboarding:my_exit")
    return render(request, "offboarding/my_exit.html", _my_exit_context(request, member, form))


@login_required
@require_POST
def submit_my_exit(request, pk: int):
    """Submit again a draft whose first submit was refused."""
    exit_case = get_object_or_404(_own_exits(request.user), pk=pk)
    _submit_and_report(request, exit_case)
    return redirect("offboarding:my_exit")


@login_required
@require_http_methods(["GET", "POST"])
def cancel_my_exit(request, pk: int):
    """Cancel one's own exit request, after ticking a confirmation box."""
    exit_case = get_object_or_404(_own_exits(request.user), pk=pk)
    form = CancelExitForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            workflow.cancel(exit_case, actor=request.user)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, _("Your exit request was cancelled."))
        return redirect("offboarding:my_exit")
    return render(request, "offboarding/cancel_exit.html", {"exit_case": exit_case, "form": form})


# ---------------------------------------------------------------------------------------------
# Super-admin handover (超级管理员移交, H-1) and the emergency window (H-2)
#
# Like the self-service pages, these only ever look at rows that name the logged-in user's own
# member: the handovers they give or receive, their own emergency window, the freezes of their
# enterprise when they are its super admin. Anything else is a 404.


@login_required
@require_http_methods(["GET", "POST"])
def super_admin(request):
    """The handover page: the super admin names their successor here; a member named as the
    new super admin finds what waits for their confirmation; the super admin unfreezes accounts."""
    member = selectors.member_of(request.user)
    if member is None:
        return render(request, "offboarding/no_member.html", status=404)
    enterprise = member.enterprise
    form = HandoverRequestForm(
        _posted(request),
        enterprise=enterprise,
        custody=enterprise.handover_policy == HandoverPolicy.CUSTODY,
    )
    if request.method == "POST" and form.is_valid():
        try:
            started = handover.request_handover(
                member,
                actor=request.user,
                new_admin=form.cleaned_data["new_admin"],
                custodian=form.cleaned_data.get("custodian"),
                password=form.cleaned_data["password"],
                request=request,
            )
        except ExitRefused as refusal:
            field = refusal.field if refusal.field in form.fields else None
            form.add_error(field, str(refusal))
        else:
            messages.success(request, _handover_started_message(started))
            return redirect("offboarding:super_admin")
    return render(
        request,
        "offboarding/super_admin.html",
        {
            "member": member,
            "enterprise": enterprise,
            "form": form,
            "given": SuperAdminHandover.objects.filter(from_member=member).select_related(
                "to_member", "custodian"
            ),
            "to_confirm": SuperAdminHandover.objects.filter(
                to_member=member, state__in=OPEN_HANDOVER_STATES
            ).select_related("from_member", "custodian"),
            "handover_open": SuperAdminHandover.objects.filter(
                enterprise=enterprise, state__in=OPEN_HANDOVER_STATES
            ).exists(),
            "freezes": (
                AccountFreeze.objects.filter(enterprise=enterprise, unfrozen_at__isnull=True)
                .exclude(member=member)
                .select_related("member", "promoted")
                if member.is_active_super_admin
                else AccountFreeze.objects.none()
            ),
        },
    )


def _handover_started_message(started: SuperAdminHandover) -> str:
    if started.state == HandoverState.IN_CUSTODY:
        return _(
            "%(custodian)s holds the super admin role now, until %(new)s accepts it with the "
            "code of their authenticator app."
        ) % {"custodian": started.custodian.name, "new": started.to_member.name}
    return _(
        "%(new)s is named as the new super admin. The role passes when they confirm with the "
        "code of their authenticator app."
    ) % {"new": started.to_member.name}


# Both factors (双重验证) on the pages that enrol an authenticator: the password first, then the
# code. The password step's proof (offboarding.handover.prove_password) is kept in the session for
# the code step; the authenticator's key is shown only once it is there. These pages show a secret:
# never cached (`never_cache`: Cache-Control no-store).

_PASSWORD_PROOFS = "offboarding_password_proofs"


def _proof(request, key: str):
    return request.session.get(_PASSWORD_PROOFS, {}).get(key)


def _keep_proof(request, key: str, proof: str) -> None:
    proofs = dict(request.session.get(_PASSWORD_PROOFS, {}))
    proofs[key] = proof
    request.session[_PASSWORD_PROOFS] = proofs


def _drop_proof(request, key: str) -> None:
    proofs = dict(request.session.get(_PASSWORD_PROOFS, {}))
    if proofs.pop(key, None) is not None:
        request.session[_PASSWORD_PROOFS] = proofs


def _two_factor_page(request, *, key, proven, prove, door, done, template, context):
    """The password step until `proven`, then the code step (the key shown to enrol it).
    `prove(password)` returns the proof; `door(token, proof)` runs the door; `done(result)`
    answers its success."""
    if not proven:
        form = PasswordForm(_posted(request))
        if request.method == "POST" and form.is_valid():
            try:
                proof = prove(form.cleaned_data["password"])
            except ExitRefused as refusal:
                form.add_error("password" if refusal.field == "password" else None, str(refusal))
            else:
                _keep_proof(request, key, proof)
                return redirect(request.path)
        return render(request, template, {**context, "password_form": form})
    form = AuthenticatorCodeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            result = door(form.cleaned_data["token"], _proof(request, key))
        except ExitRefused as refusal:
            if refusal.field == "password":  # the proof expired meanwhile: the password again
                _drop_proof(request, key)
                messages.error(request, str(refusal))
                return redirect(request.path)
            form.add_error("token" if refusal.field == "token" else None, str(refusal))
        else:
            _drop_proof(request, key)
            return done(result)
    device = handover.enrolment_device(request.user)
    return render(
        request,
        template,
        {
            **context,
            "form": form,
            "device": device,
            "qr_svg": None if device.confirmed else handover.enrolment_qr_svg(device),
            "secret": None if device.confirmed else b32encode(device.bin_key).decode(),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def confirm_handover(request, pk: int):
    """The new super admin proves both factors: their password, then (once it is accepted) the
    page enrols their authenticator (QR code) and takes its code."""
    pending = get_object_or_404(
        SuperAdminHandover.objects.select_related(
            "from_member", "to_member", "custodian", "enterprise"
        ).filter(to_member__user=request.user, state__in=OPEN_HANDOVER_STATES),
        pk=pk,
    )
    key = f"{handover.CONFIRM_HANDOVER}:{pending.pk}"

    def done(result):
        messages.success(
            request,
            _("You are the super admin of %(enterprise)s now.")
            % {"enterprise": result.enterprise.name},
        )
        return redirect("offboarding:super_admin")

    return _two_factor_page(
        request,
        key=key,
        proven=handover.password_proven(
            _proof(request, key), handover.CONFIRM_HANDOVER, pending.pk, actor=request.user
        ),
        prove=lambda password: handover.prove_password_to_confirm(
            pending, actor=request.user, password=password, request=request
        ),
        door=lambda token, proof: handover.confirm_handover(
            pending, actor=request.user, token=token, password_proof=proof
        ),
        done=done,
        template="offboarding/confirm_handover.html",
        context={"handover": pending},
    )


@login_required
@require_http_methods(["GET", "POST"])
def withdraw_handover(request, pk: int):
    """The leaving super admin withdraws a handover still waiting for the new one's code."""
    pending = get_object_or_404(
        SuperAdminHandover.objects.select_related("to_member").filter(
            from_member__user=request.user
        ),
        pk=pk,
    )
    form = WithdrawHandoverForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            handover.withdraw_handover(pending, actor=request.user)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(
                request, _("The handover was withdrawn: you are still the super admin.")
            )
        return redirect("offboarding:super_admin")
    return render(
        request, "offboarding/withdraw_handover.html", {"handover": pending, "form": form}
    )


@login_required
@require_GET
def emergency(request):
    """The old super admin's emergency page: the handover, and the report of a stolen account."""
    window = handover.open_window_for(request.user)
    if window is None:
        raise Http404(_("You hold no emergency window."))
    return render(
        request, "offboarding/emergency.html", _emergency_context(window, ReportStolenForm())
    )


def _emergency_context(window: SuperAdminHandover, form) -> dict:
    takeover, no_takeover = handover.takeover_on_report(window)
    return {
        "handover": window,
        "form": form,
        "reported": window.stolen_report,
        # What a report does now: who takes over, or why nothing can be frozen.
        "takeover": takeover,
        "no_takeover": no_takeover,
        # Still employed: their own pages too; confined once their exit has completed.
        "confined": not window.from_member.user.is_active,
    }


@login_required
@require_POST
def report_stolen(request):
    window = handover.open_window_for(request.user)
    if window is None:
        raise Http404(_("You hold no emergency window."))
    form = ReportStolenForm(request.POST)
    if form.is_valid():
        try:
            freeze = handover.report_stolen(
                window, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ExitRefused as refusal:
            form.add_error("reason" if refusal.field == "reason" else None, str(refusal))
        else:
            message = _("%(member)s is frozen and logged out everywhere.") % {
                "member": freeze.member.name
            }
            if freeze.promoted_id:
                message = _(
                    "%(member)s is frozen and logged out everywhere; %(promoted)s is the super "
                    "admin now."
                ) % {"member": freeze.member.name, "promoted": freeze.promoted.name}
            messages.warning(request, message)
            return redirect("offboarding:emergency")
    return render(request, "offboarding/emergency.html", _emergency_context(window, form))


@login_required
@require_http_methods(["GET", "POST"])
def unfreeze(request, pk: int):
    """The enterprise's super admin gives a frozen account back (H-3)."""
    freeze = get_object_or_404(
        AccountFreeze.objects.select_related("member", "promoted").filter(unfrozen_at__isnull=True),
        pk=pk,
    )
    if not handover.may_unfreeze(request.user, freeze):
        raise Http404(_("There is no such account freeze."))
    form = UnfreezeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            handover.unfreeze_account(freeze, actor=request.user)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, _("%(member)s is unfrozen.") % {"member": freeze.member.name})
        return redirect("offboarding:super_admin")
    return render(request, "offboarding/unfreeze.html", {"freeze": freeze, "form": form})


# ---------------------------------------------------------------------------------------------
# The backup admin (AB角, H-3): the super admin's choice, accepted with both factors


@login_required
@require_http_methods(["GET", "POST"])
def backup_admin(request):
    """The super admin designates the backup admin here (and withdraws a designation, or the
    standing backup admin); a member designated finds what waits for their acceptance."""
    member = selectors.member_of(request.user)
    if member is None:
        return render(request, "offboarding/no_member.html", status=404)
    enterprise = member.enterprise
    form = BackupDesignationForm(_posted(request), enterprise=enterprise)
    if request.method == "POST" and form.is_valid():
        try:
            designated = backup.designate_backup_admin(
                member,
                actor=request.user,
                candidate=form.cleaned_data["member"],
                password=form.cleaned_data["password"],
                request=request,
            )
        except ExitRefused as refusal:
            field = refusal.field if refusal.field in form.fields else None
            form.add_error(field, str(refusal))
        else:
            messages.success(
                request,
                _(
                    "%(name)s is designated as the backup admin. They become it when they accept "
                    "with their password and the code of their authenticator app."
                )
                % {"name": designated.member.name},
            )
            return redirect("offboarding:backup_admin")
    is_super_admin = member.is_active_super_admin
    designations = BackupAdminDesignation.objects.filter(enterprise=enterprise).select_related(
        "member", "super_admin"
    )
    return render(
        request,
        "offboarding/backup_admin.html",
        {
            "member": member,
            "enterprise": enterprise,
            "form": form,
            "is_super_admin": is_super_admin,
            "backup_admins": Member.objects.filter(enterprise=enterprise, is_backup_admin=True)
            if is_super_admin
            else Member.objects.none(),
            "waiting": designations.filter(state=BackupDesignationState.AWAITING_ACCEPTANCE).first()
            if is_super_admin
            else None,
            "past": designations.exclude(state=BackupDesignationState.AWAITING_ACCEPTANCE)[:20]
            if is_super_admin
            else [],
            "to_accept": designations.filter(
                member=member, state=BackupDesignationState.AWAITING_ACCEPTANCE
            ),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def accept_backup_designation(request, pk: int):
    """The designated member proves both factors: their password, then (once it is accepted) the
    page enrols their authenticator and takes its code; then they are the backup admin."""
    pending = get_object_or_404(
        BackupAdminDesignation.objects.select_related("member", "super_admin", "enterprise").filter(
            member__user=request.user, state=BackupDesignationState.AWAITING_ACCEPTANCE
        ),
        pk=pk,
    )
    key = f"{backup.ACCEPT_DESIGNATION}:{pending.pk}"

    def done(result):
        messages.success(
            request,
            _("You are the backup admin of %(enterprise)s now.")
            % {"enterprise": result.enterprise.name},
        )
        return redirect("offboarding:backup_admin")

    return _two_factor_page(
        request,
        key=key,
        proven=handover.password_proven(
            _proof(request, key), backup.ACCEPT_DESIGNATION, pending.pk, actor=request.user
        ),
        prove=lambda password: backup.prove_password_to_accept(
            pending, actor=request.user, password=password, request=request
        ),
        door=lambda token, proof: backup.accept_designation(
            pending, actor=request.user, token=token, password_proof=proof
        ),
        done=done,
        template="offboarding/accept_backup_designation.html",
        context={"designation": pending},
    )


def _super_admins_enterprise(request):
    """The enterprise whose active super admin is logged in, or a 404."""
    member = selectors.member_of(request.user)
    if member is None or not member.is_active_super_admin:
        raise Http404(_("Only the enterprise's super admin manages the backup admin."))
    return member.enterprise


@login_required
@require_http_methods(["GET", "POST"])
def withdraw_backup_designation(request, pk: int):
    """The super admin withdraws a designation still waiting for the member."""
    enterprise = _super_admins_enterprise(request)
    pending = get_object_or_404(
        BackupAdminDesignation.objects.select_related("member").filter(
            enterprise=enterprise, state=BackupDesignationState.AWAITING_ACCEPTANCE
        ),
        pk=pk,
    )
    form = WithdrawBackupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            backup.withdraw_designation(pending, actor=request.user)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(
                request,
                _("The designation of %(name)s is withdrawn.") % {"name": pending.member.name},
            )
        return redirect("offboarding:backup_admin")
    return render(
        request,
        "offboarding/withdraw_backup.html",
        {
            "form": form,
            "question": _(
                "Withdraw the designation of %(name)s as the backup admin? They can no longer "
                "accept it."
            )
            % {"name": pending.member.name},
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def withdraw_backup_admin(request, pk: int):
    """The super admin takes the backup-admin flag back from the standing backup admin."""
    enterprise = _super_admins_enterprise(request)
    standing = get_object_or_404(
        Member.objects.filter(enterprise=enterprise, is_backup_admin=True), pk=pk
    )
    form = WithdrawBackupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            backup.withdraw_backup_admin(standing, actor=request.user)
        except ExitRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(
                request, _("%(name)s is no longer the backup admin.") % {"name": standing.name}
            )
        return redirect("offboarding:backup_admin")
    return render(
        request,
        "offboarding/withdraw_backup.html",
        {
            "form": form,
            "question": _(
                "Withdraw %(name)s as the backup admin? Until another accepts, a freeze of your "
                "account has nobody to promote."
            )
            % {"name": standing.name},
        },
    )
