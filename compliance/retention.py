"""Retention (C-2): how long records are kept, and what happens to them afterwards.

The statutory floors (`FLOORS`) hold whatever a policy says, and no policy may go below them:

- chat messages: at least 6 calendar months and never fewer than 180 days (the seed's
  「工作聊天记录保存≥180天」; Cybersecurity Law Art. 21) — a chat of 31 August is kept through the
  last day of February;
- terminated labour contracts and wage records: 2 years (Labor Contract Law Art. 50).

Dates are the enterprise's (its time zone): a record is past its retention from the day after
its last kept day.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .choices import DocumentType, RecordCategory


@dataclass(frozen=True)
class Floor:
    category: str
    document_type: str  # "" for the whole category
    months: int
    days: int
    law: Promise

    def kept_until(self, created_on: date) -> date:
        """The last day a record created on `created_on` must be kept."""
        return max(
            created_on + relativedelta(months=self.months), created_on + timedelta(self.days)
        )

    def last_expired_creation_day(self, today: date) -> date:
        """The latest creation day whose retention has ended before `today`: a record created on
        or before it is past this floor. (kept_until grows with the creation day, so two short
        walks find it.)"""
        day = min(today - relativedelta(months=self.months), today - timedelta(self.days))
        while self.kept_until(day) >= today:
            day -= timedelta(1)
        while self.kept_until(day + timedelta(1)) < today:
            day += timedelta(1)
        return day

    @property
    def minimum_days(self) -> int:
        """The fewest days a policy for this floor's records may say."""
        return max(self.days, self.months * 28)


FLOORS = (
    Floor(
        RecordCategory.CHAT,
        "",
        months=6,
        days=180,
        law=_(
            "Cybersecurity Law Art. 21: chat messages are kept at least 6 calendar months and "
            "never fewer than 180 days (工作聊天记录保存≥180天)."
        ),
    ),
    Floor(
        RecordCategory.FILE,
        DocumentType.LABOUR_CONTRACT,
        months=24,
        days=0,
        law=_("Labor Contract Law Art. 50: terminated labour contracts are kept 2 years."),
    ),
    Floor(
        RecordCategory.FILE,
        DocumentType.WAGE_RECORD,
        months=24,
        days=0,
        law=_("Labor Contract Law Art. 50: wage records are kept 2 years."),
    ),
)


def start_of_day(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


def within_floors(enterprise, *, today: date | None = None) -> Q:
    """Records of `enterprise` that a statutory floor still keeps today (a Q on WorkRecord)."""
    today = today or timezone.localdate(timezone=enterprise.time_zone)
    protected = Q(pk__in=[])
    for floor in FLOORS:
        first_kept_day = floor.last_expired_creation_day(today) + timedelta(1)
        condition = Q(
            category=floor.category,
            created_at__gte=start_of_day(first_kept_day, enterprise.time_zone),
        )
        if floor.document_type:
            condition &= Q(document_type=floor.document_type)
        protected |= condition
    return protected
