"""`manage.py rotate_master_key`: re-wrap every member's data key, and every group robot's address,
with the newest master key.

To rotate (README "Master key"): put a new Fernet key first in EXITDESK_MASTER_KEYS, keep the old
ones after it, restart every process (web, workers, beat) with that list, only then run this
command; drop an old key only once no backup taken under it is kept. Every data key and robot
address is first checked to unwrap with the keys configured; if one does not, the command names
it and changes nothing. The re-wrap itself runs
in batches (compliance.crypto.rotate_master_keys), each in its own transaction: a run stopped
half way is finished by running it again (a key re-wrapped already is simply re-wrapped again).
Each enterprise whose keys were re-wrapped gets an audit event ("master_key_rotated").

The data keys themselves do not change, so no record or audit event needs re-encrypting.

The audit chain's keys (EXITDESK_AUDIT_KEYS, "id:secret", newest first) rotate alongside: put a new
key first and keep every older one after it — nothing is re-hashed, each event names the key its
hash was made with, so a key stays needed as long as events name it. This command first checks
that every audit key the events name is configured (otherwise it names the missing ones and
changes nothing), then says which key new events use and which keys the events need; its audit
event records the audit key in use.
"""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count

from compliance import audit, crypto
from compliance.models import AuditEvent, MemberDataKey

SHOWN_FAILURES = 10


class Command(BaseCommand):
    help = (
        "Re-wrap every member's data key with the first key of EXITDESK_MASTER_KEYS. Checks "
        "first that every key unwraps with the keys configured; changes nothing if one does not."
    )

    def handle(self, *args, **options):
        crypto.forget_master()  # the settings as they are now, not as first read
        try:
            crypto.wrap(b"")  # an empty or invalid EXITDESK_MASTER_KEYS says so here
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        self.check_audit_keys()
        failing = self.keys_that_do_not_unwrap()
        if failing:
            shown = ", ".join(str(member_id) for member_id in failing[:SHOWN_FAILURES])
            raise CommandError(
                f"{len(failing):,} data key(s) do not unwrap with any key of "
                f"EXITDESK_MASTER_KEYS (members {shown}"
                f"{', …' if len(failing) > SHOWN_FAILURES else ''}): add the master key that "
                "wrapped them (after the new one) and run again. Nothing was changed."
            )
        robots = self.robots_that_do_not_unwrap()
        if robots:
            raise CommandError(
                f"{len(robots):,} group robot address(es) do not unwrap with any key of "
                f"EXITDESK_MASTER_KEYS (robots {', '.join(map(str, robots[:SHOWN_FAILURES]))}): "
                "add the master key that wrapped them (after the new one) and run again. Nothing "
                "was changed."
            )
        try:
            rotated = crypto.rotate_master_keys()
        except (InvalidToken, ImproperlyConfigured) as error:  # a key written since the check
            raise CommandError(
                f"A data key does not unwrap with EXITDESK_MASTER_KEYS ({error or 'invalid'}); "
                "keys re-wrapped so far stay re-wrapped. Add the missing master key and run again."
            ) from None
        robots_rotated = self.rotate_robots()
        self.record_rotation()
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-wrapped {rotated:,} data key(s) and {robots_rotated:,} group robot "
                "address(es) with the first key of EXITDESK_MASTER_KEYS."
            )
        )
        in_use = ", ".join(f"{key_id!r} ({count:,})" for key_id, count in self.audit_keys_in_use())
        self.stdout.write(
            f"New audit events are hashed with audit key {audit.current_key_id()!r}. "
            + (
                f"Audit events name key(s) {in_use}: keep each in EXITDESK_AUDIT_KEYS."
                if in_use
                else "No audit event names a key yet."
            )
        )
        if len([key for key in settings.EXITDESK_MASTER_KEYS if key]) > 1:
            self.stdout.write(
                "The data keys no longer need the older master keys, but a backup taken before "
                "this rotation does: keep them in EXITDESK_MASTER_KEYS (and in your secret "
                "store) as long as such a backup is kept, then remove them and restart every "
                "process."
            )

    def check_audit_keys(self) -> None:
        """Every audit key an event names must be configured, or the chain cannot be verified."""
        try:
            configured = audit.parse_keys(settings.EXITDESK_AUDIT_KEYS)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        missing = [
            key_id for key_id, _count in self.audit_keys_in_use() if key_id not in configured
        ]
        if missing:
            raise CommandError(
                f"Audit events name audit key(s) {', '.join(map(repr, missing))}, which "
                "EXITDESK_AUDIT_KEYS does not hold: put them back (after the newest key) so that "
                "the audit chain verifies, and run again. Nothing was changed."
            )

    @staticmethod
    def audit_keys_in_use() -> list[tuple[str, int]]:
        """(key id, how many events name it), events written before the keys aside."""
        return list(
            AuditEvent.objects.exclude(key_id=audit.UNKEYED)
            .values_list("key_id")
            .annotate(count=Count("pk"))
            .order_by("key_id")
        )

    def keys_that_do_not_unwrap(self) -> list[int]:
        """Members whose data key no configured master key opens. One streamed query."""
        failing = []
        rows = (
            MemberDataKey.objects.filter(wrapped_key__isnull=False)
            .order_by("pk")
            .values_list("member_id", "wrapped_key")
        )
        for member_id, wrapped in rows.iterator(chunk_size=2000):
            try:
                crypto.unwrap(wrapped)
            except ImproperlyConfigured:
                failing.append(member_id)
        return failing

    @staticmethod
    def _robots():
        # The enterprises' group robots keep their addresses wrapped by the master key itself
        # (offboarding.notifications): re-wrapped alongside the data keys.
        return apps.get_model("offboarding", "GroupRobot").objects.order_by("pk")

    def robots_that_do_not_unwrap(self) -> list[int]:
        failing = []
        for robot_id, wrapped in self._robots().values_list("pk", "sealed_url").iterator():
            try:
                crypto.unwrap(wrapped)
            except ImproperlyConfigured:
                failing.append(robot_id)
        return failing

    def rotate_robots(self) -> int:
        rotated = 0
        with transaction.atomic():
            for robot_id, wrapped in list(
                self._robots().select_for_update().values_list("pk", "sealed_url")
            ):
                self._robots().filter(pk=robot_id).update(sealed_url=crypto.rewrap(bytes(wrapped)))
                rotated += 1
        return rotated

    def record_rotation(self) -> None:
        """One audit event per enterprise: how many of its members' keys are wrapped now."""
        per_enterprise = (
            MemberDataKey.objects.filter(wrapped_key__isnull=False)
            .values("member__enterprise_id")
            .annotate(count=Count("pk"))
            .order_by("member__enterprise_id")
        )
        with transaction.atomic():
            for row in per_enterprise:
                audit.record(
                    row["member__enterprise_id"],
                    actor=None,
                    action="master_key_rotated",
                    object_type="enterprise",
                    object_id=row["member__enterprise_id"],
                    data={"count": row["count"], "audit_key": audit.current_key_id()},
                )
