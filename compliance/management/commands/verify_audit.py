"""`manage.py verify_audit [--enterprise ID] [--jobs N]`: prove each enterprise's audit chain
unbroken (C-7).

Recomputes every chain (compliance.audit.verify, streamed in chunks) and prints one line per
enterprise: how many events it checked and "whole", or the first break — the event it names (id,
sequence number, action) and one sentence saying what happened: an event deleted in the middle or
at the end ("missing event(s) after seq N"), renumbered, edited (its content no longer matches its
hash), forged (appended past the head without the audit key, or with a plain SHA-256 where the
chain is keyed), the head missing, ahead of or behind the events.

On PostgreSQL the chains are checked side by side in up to `--jobs` processes (by default one
per core), each with its own database connection, and a long chain in parts side by side too (a
chain whose parts do not all hold is checked again from its start, in one process, to name its
break); the lines come in enterprise order, the same as with `--jobs 1`.

Exits 0 when every chain is whole, 1 otherwise (a CommandError), so that a cron job or a
monitoring check can alert on it. A malformed or unknown enterprise id is an error (exit 1) that
says so, rather than "0 chains checked".
"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from compliance import audit
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
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            metavar="N",
            help="Check up to N chains side by side, in as many processes (on PostgreSQL; by "
            "default one per core).",
        )

    def handle(self, *args, **options):
        enterprise_id = self.enterprise_id(options["enterprise"])
        if options["jobs"] < 1:
            raise CommandError("--jobs takes a number of processes, at least 1.")
        try:
            checks = audit.verify(enterprise_id, jobs=options["jobs"])
        except ImproperlyConfigured as error:  # EXITDESK_AUDIT_KEYS empty or malformed
            raise CommandError(str(error)) from None
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
        if check.at_end:  # every event is whole; what breaks is at the chain's end
            return (
                f"BROKEN after the last event, id {event.pk}, seq {event.seq}, action "
                f"{event.action!r} ({check.checked:,} event(s) whole): {check.reason}."
            )
        return (
            f"BROKEN at event id {event.pk}, seq {event.seq}, action {event.action!r} "
            f"({check.checked:,} event(s) before it whole): {check.reason}."
        )
