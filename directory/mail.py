"""Mail to a person, in their language, that says so when it is not sent.

    from directory import mail
    try:
        mail.send(to=user.email, template="mail/invitation", context={…},
                  language=mail.language_of(user), about=user)
    except mail.MailNotSent as not_sent:
        messages.error(request, _("Not sent: %(reason)s") % {"reason": not_sent.reason})

`send` renders `<template>_subject.txt` and `<template>_body.txt` in the recipient's language
(`language_of`: a member's enterprise's `language`; a staff user's, the language of the
enterprises granted to them; Simplified Chinese otherwise), sends, and either returns
(the mail server took it) or raises MailNotSent with the reason, in the language of whoever is
asking (the active one), after logging it. It never answers "sent" for a mail that was not: no
address, mail turned off (the dummy backend), a server that refuses or does not answer
(EMAIL_TIMEOUT) are each a MailNotSent.

The mail server is configured in config/settings (EMAIL_URL or the EMAIL_* variables);
`manage.py sendtestemail ADDRESS` tries it.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from .choices import MailLanguage

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = MailLanguage.ZH_HANS.value
DUMMY_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


class MailNotSent(Exception):
    """A mail was not sent; `reason` says why, for the person who asked."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def language_of(user) -> str:
    """The language mail to `user` is written in: their enterprise's, for a member; for a staff
    user, the language of the enterprises granted to them (as their notifications are), or
    Simplified Chinese when they are granted none or several that differ; Simplified Chinese
    for anyone else."""
    member = getattr(user, "member", None)  # None for a staff login (no member row)
    language = getattr(getattr(member, "enterprise", None), "language", None)
    if language:
        return language
    if member is None and getattr(user, "is_staff", False) and user.pk is not None:
        granted = set(
            user.enterprise_accesses.values_list("enterprise__language", flat=True).distinct()
        )
        if len(granted) == 1:
            return granted.pop() or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def describe(error: Exception) -> str:
    """The reason a send failed, as the mail server or the network said it."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def send(
    *,
    to: str,
    template: str,
    context: dict,
    language: str = DEFAULT_LANGUAGE,
    about=None,
    connection=None,
) -> None:
    """Send the mail `template` (…_subject.txt, …_body.txt) to the address `to`, written in
    `language`. `about`: the user it concerns, named by id in the log (never by address).
    `connection`: a mail connection to reuse (bulk sends). Raises MailNotSent."""
    with translation.override(language):
        subject = "".join(render_to_string(f"{template}_subject.txt", context).splitlines())
        body = render_to_string(f"{template}_body.txt", context)
    send_text(to=to, subject=subject, body=body, what=template, about=about, connection=connection)


def send_text(
    *, to: str, subject: str, body: str, what: str = "", about=None, connection=None
) -> None:
    """Send a mail already written (`subject`, `body`) to the address `to`; `what` names it in
    the log. The same refusals as `send`: raises MailNotSent."""
    who = getattr(about, "pk", None)
    if not to:
        logger.warning("Mail %s to user %s not sent: no address", what, who)
        raise MailNotSent(_("there is no e-mail address to send it to."))
    if settings.EMAIL_BACKEND == DUMMY_BACKEND:
        logger.warning("Mail %s to user %s not sent: mail is turned off", what, who)
        raise MailNotSent(_("mail is turned off on this server (EMAIL_URL=dummymail://)."))
    message = EmailMessage(
        subject, body, to=[to], connection=connection or get_connection(fail_silently=False)
    )
    try:
        accepted = message.send(fail_silently=False)
    except Exception as error:  # any backend, any failure: the person who asked must know
        reason = describe(error).replace(to, "…")
        logger.warning("Mail %s to user %s not sent: %s", what, who, reason)
        raise MailNotSent(reason) from error
    if not accepted:
        logger.warning("Mail %s to user %s not sent: the server accepted nothing", what, who)
        raise MailNotSent(_("the mail server did not accept it."))
    logger.info("Mail %s sent to user %s", what, who)
