"""`manage.py verify_audit [--enterprise ID]`: prove each enterprise's audit chain unbroken (C-7).

Recomputes every chain (compliance.audit.verify, streamed in chunks) and prints one line per
enterprise: how many events it checked and "whole", or the first broken event — its id, sequence
number and action, and why it breaks the chain (a changed byte in any column changes its hash; a
deleted event leaves a gap in the sequence; a changed hash breaks the next event's link).

Exits 0 when every chain is whole, 1 otherwise (a CommandError), so that a cron job or a
monitoring check can alert on it. A malformed or unknown enterprise id is an error (exit 1) that
says so, rather than "0 chains checked".
"""

from django.core.management.base import BaseCommand, CommandError

from compliance import audit
from compliance.models import AuditEvent
from directory.models import Enterprise


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident audit trail: recompute each enterprise's hash chain and name "
        "the first broken event. Exits 1 if any chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--enterprise",
            metavar="ID",
            help="Verify only this enterprise's chain (its numeric id).",
        )

    def handle(self, *args, **options):
        enterprise_id = self.enterprise_id(options["enterprise"])
        checks = audit.verify(enterprise_id)
        names = dict(
            Enterprise.objects.filter(pk__in=[check.enterprise_id for check in checks]).values_list(
                "pk", "name"
            )
        )
        broken = 0
        for check in checks:
            label = f"Enterprise {check.enterprise_id} ({names.get(check.enterprise_id, '?')})"
            if check.whole:
                self.stdout.write(
                    self.style.SUCCESS(f"{label}: {check.checked:,} event(s) checked, chain whole.")
                )
                continue
            broken += 1
            self.stdout.write(self.style.ERROR(f"{label}: {self.describe(check)}"))
        if not checks:
            self.stdout.write("No audit events yet: nothing to verify.")
        if broken:
            raise CommandError(
                f"{broken} of {len(checks)} audit chain(s) broken: see the event(s) named above."
            )

    def enterprise_id(self, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            enterprise_id = int(value)
        except ValueError:
            raise CommandError(
                f"--enterprise takes an enterprise's numeric id; {value!r} is not one."
            ) from None
        if not Enterprise.objects.filter(pk=enterprise_id).exists():
            raise CommandError(f"There is no enterprise with id {enterprise_id}.")
        return enterprise_id

    @staticmethod
    def describe(check: audit.ChainCheck) -> str:
        event = check.broken
        if event is None:  # the head names events, none of which is left
            return f"BROKEN after {check.checked:,} whole event(s): {check.reason}."
        line = (
            f"BROKEN at event id {event.pk}, seq {event.seq}, action {event.action!r} "
            f"({check.checked:,} event(s) before it whole): {check.reason}."
        )
        if event.seq != check.checked + 1:
            line += " " + Command.missing(check)
        return line

    @staticmethod
    def missing(check: audit.ChainCheck) -> str:
        """A gap in the sequence: the event before the broken one was deleted, or renumbered
        (its seq changed, which moved it elsewhere in the order). Name it if it is still there:
        it is the one whose hash the broken event links to."""
        expected = check.checked + 1
        moved = (
            AuditEvent.objects.filter(
                enterprise_id=check.enterprise_id, hash=check.broken.prev_hash
            )
            .exclude(pk=check.broken.pk)
            .first()
        )
        if moved is None:
            return f"Event seq {expected} is missing: deleted."
        line = (
            f"Event seq {expected} is there as event id {moved.pk}, seq {moved.seq}, action "
            f"{moved.action!r}: renumbered"
        )
        if audit.compute_hash(moved) != moved.hash:
            line += ", and its hash does not match its content"
        return line + "."
