from django.db import models

from directory.querysets import ScopedQuerySetMixin

from .choices import OPEN_STATES, ExitState


class ExitQuerySet(ScopedQuerySetMixin, models.QuerySet):
    def open(self):
        return self.filter(state__in=OPEN_STATES)

    def in_state(self, state: ExitState):
        return self.filter(state=state)

    def past_undo_window(self, now):
        """Completed exits whose undo window has ended: what `close` (and its nightly job) takes."""
        return self.filter(state=ExitState.COMPLETED, undo_deadline__lte=now)

    def with_people(self):
        return self.select_related("member__user", "member__department", "enterprise", "successor")
