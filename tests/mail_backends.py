"""Mail backends for the tests: one whose server refuses every mail."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend

REFUSAL = "(550, b'5.7.1 Relaying denied')"


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every message, as a misconfigured relay does."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPDataError(550, b"5.7.1 Relaying denied")


class UnreachableBackend(BaseEmailBackend):
    """A mail server that cannot be reached (the default localhost:25 with nothing there)."""

    def open(self):
        raise ConnectionRefusedError(111, "Connection refused")

    def send_messages(self, email_messages):
        self.open()
