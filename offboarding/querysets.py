from django.db import models
from django.db.models import Exists, OuterRef, Q

from directory.choices import MemberStatus, StaffRole
from directory.querysets import ScopedQuerySetMixin
from directory.tenancy import grants_for

from .choices import OPEN_STATES, Decision, ExitState


class ExitQuerySet(ScopedQuerySetMixin, models.QuerySet):
    def open(self):
        return self.filter(state__in=OPEN_STATES)

    def past_undo_window(self, now):
        """Completed exits whose undo window has ended: what `close` (and its nightly job) takes."""
        return self.filter(state=ExitState.COMPLETED, undo_deadline__lte=now)

    def with_people(self):
        return self.select_related("member__user", "member__department", "enterprise", "successor")

    def waiting_for(self, user):
        """Exits whose current step `user` decides: as its active assignee, or as HR of the
        enterprise when the step has nobody active assigned. The approvals inbox, set-based; the
        same rule as `offboarding.rules.decides`, for many exits at once."""
        from .models import ExitApproval

        earlier_pending = ExitApproval.objects.filter(
            exit_case=OuterRef("exit_case"),
            decision=Decision.PENDING,
            position__lt=OuterRef("position"),
        )
        as_assignee = Q(assignee__user=user, assignee__status=MemberStatus.ACTIVE)
        as_hr = Q(assignee__isnull=True) | ~Q(assignee__status=MemberStatus.ACTIVE)
        grants = grants_for(user)
        if not grants.all_enterprises:
            as_hr &= Q(exit_case__enterprise_id__in=grants.enterprise_ids((StaffRole.HR,)))
        current_and_mine = (
            ExitApproval.objects.filter(exit_case=OuterRef("pk"), decision=Decision.PENDING)
            .filter(as_assignee | as_hr)
            .exclude(Exists(earlier_pending))
        )
        return self.filter(Exists(current_and_mine))

    def open_to_approver(self, user):
        """Exits whose approval page `user` may open: those whose current step they decide, and
        those they decided or were assigned a step of (to look back at what they approved)."""
        from .models import ExitApproval

        involved = ExitApproval.objects.filter(exit_case=OuterRef("pk")).filter(
            Q(decided_by=user) | Q(assignee__user=user)
        )
        waiting = self.model.objects.waiting_for(user).values("pk")
        return self.filter(Q(Exists(involved)) | Q(pk__in=waiting))
