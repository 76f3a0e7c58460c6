"""The audit chain becomes keyed (HMAC-SHA256 with a key from EXITDESK_AUDIT_KEYS).

Every event gets the id of the key its hash was made with (`key_id`); the events written before
have none ("", a plain SHA-256) and keep verifying as they are. Each chain's head records up to
which sequence number its events are unkeyed (`legacy_until` = the head's seq now): a plain event
after that is a forgery. New chains start keyed (0).

Stop every process that writes audit events while this runs: an event written by the old code
after it would be unkeyed past `legacy_until`, and be reported as forged.
"""

from django.db import migrations, models


def mark_unkeyed_events(apps, schema_editor):
    AuditChainHead = apps.get_model("compliance", "AuditChainHead")
    AuditChainHead.objects.update(legacy_until=models.F("seq"))


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0002_audit_event_append_only'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditchainhead',
            name='legacy_until',
            field=models.BigIntegerField(default=0, verbose_name='unkeyed events until'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='key_id',
            field=models.CharField(blank=True, default='', max_length=32, verbose_name='audit key'),
        ),
        migrations.RunPython(mark_unkeyed_events, migrations.RunPython.noop),
    ]
