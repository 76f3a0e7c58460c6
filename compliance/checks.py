"""System checks of the master keys (`manage.py check`; see README "Master key").

- `check_master_keys_configured` (every `check`, and so every management command that runs the
  checks): EXITDESK_MASTER_KEYS holds at least one key and every key is a valid Fernet key.
- `check_master_keys_unwrap` (`check --deploy` only: it reads the database): the configured keys
  unwrap the oldest and the newest stored data key. It fails when the key that wrapped them was
  removed, or the list is another server's; `/readyz` checks the same (directory/health.py). A
  database not migrated yet has no data key: nothing to try. One that does not answer is a warning.
"""

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

from . import crypto
from .models import MemberDataKey

HINT = (
    'Generate a key with python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())", keep it in your secret store, and set '
    "EXITDESK_MASTER_KEYS to it (newest first, comma-separated, older keys after it)."
)


@register(Tags.security)
def check_master_keys_configured(app_configs=None, **kwargs):
    crypto.forget_master()
    try:
        crypto._master()
    except crypto.MasterKeyMissing as error:
        return [Error(str(error), hint=HINT, id="compliance.E002")]
    return []


@register(Tags.security, deploy=True)
def check_master_keys_unwrap(app_configs=None, **kwargs):
    if check_master_keys_configured():
        return []  # said already
    try:
        if MemberDataKey._meta.db_table not in connection.introspection.table_names():
            return []  # not migrated yet: no data key to read
        problem = crypto.master_key_problem()
    except DatabaseError as error:
        return [
            Warning(
                f"Could not read a stored data key to try the master keys: {error}",
                hint="Run check --deploy again once the database is reachable and migrated.",
                id="compliance.W003",
            )
        ]
    if problem:
        return [
            Error(
                problem,
                hint=(
                    "Sealed records and notifications cannot be read with these keys. Every "
                    "process (web, workers, beat) needs EXITDESK_MASTER_KEYS=<new>,<old> until "
                    "rotate_master_key has run and no backup taken under the old key is kept."
                ),
                id="compliance.E003",
            )
        ]
    return []
