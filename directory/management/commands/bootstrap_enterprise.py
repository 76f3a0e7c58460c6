"""`manage.py bootstrap_enterprise`: the first run of a real organisation, from an empty database.

Non-interactive and idempotent: every input is a flag or, when the flag is absent, an environment
variable (`--name` or EXITDESK_ENTERPRISE_NAME, …; `--help` lists them); passwords only from the
environment (EXITDESK_HR_PASSWORD, …), never from the command line. Everything is checked before
anything is written, in one transaction: bad input is a CommandError listing every problem, and
nothing is written. Run again with the same values it changes nothing and says so; a value that
differs from what is stored is refused, naming its flag.

This module is the interface only: what is checked and written is in directory.bootstrap.
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from directory import bootstrap


def _url(*names: str) -> str:
    """The path of the first of `names` the project serves (an admin page another app may add)."""
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    raise NoReverseMatch(names[-1])


class Command(BaseCommand):
    @property
    def help(self) -> str:  # translated when the parser is built
        return _(
            "Create a real enterprise from an empty database: its time zone and data region, "
            "its root department, its super admin and backup admin, and staff logins for HR, IT "
            "and Compliance with their grants. Idempotent: run again, it changes nothing. Every "
            "flag may be given by its environment variable instead; passwords only by "
            "environment variables."
        )

    def add_arguments(self, parser):
        for option in bootstrap.all_options():
            parser.add_argument(
                option.flag,
                dest=option.dest,
                metavar="VALUE",
                help=_("or the environment variable %(variable)s") % {"variable": option.env},
            )
        parser.add_argument(
            "--site-url",
            dest="site_url",
            metavar="URL",
            help=_(
                "the address people open, e.g. https://exitdesk.example.cn, to print whole links "
                "(or EXITDESK_SITE_URL)"
            ),
        )

    def handle(self, *args, **options):
        values = {}
        for option in bootstrap.all_options():
            given = options.get(option.dest)
            if given is None:
                given = os.environ.get(option.env)
            values[option.dest] = (given or "").strip() or None
        passwords = {
            variable: os.environ.get(variable) or None
            for variable in bootstrap.password_variables()
        }
        site_url = (options.get("site_url") or os.environ.get("EXITDESK_SITE_URL") or "").strip()
        self.site_url = site_url.rstrip("/")

        try:
            with transaction.atomic():
                plan = bootstrap.plan_first_run(values, passwords)
                if plan.problems:
                    raise CommandError(
                        "\n".join(
                            [_("Nothing was written:")]
                            + [f"  - {problem}" for problem in plan.problems]
                        )
                    )
                outcome = bootstrap.run_first_run(plan, actor=None)
        except IntegrityError as error:
            # Two first runs at once: the other one created the enterprise or a login first.
            raise CommandError(
                _(
                    "Nothing was written: another run wrote the same rows at the same time; run "
                    "it again."
                )
            ) from error
        self.report(plan, outcome)

    def link(self, path: str) -> str:
        return f"{self.site_url}{path}" if self.site_url else path

    def report(self, plan, outcome) -> None:
        for line in outcome.lines:
            self.stdout.write(f"  {line}")
        if outcome.changed:
            self.stdout.write(self.style.SUCCESS(_("Done.")))
        else:
            self.stdout.write(self.style.SUCCESS(_("Nothing to do: everything was there already.")))

        enterprise = plan.enterprise
        admin = self.link(reverse("admin:index"))
        login = self.link(reverse("login"))
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(_("Next")))
        steps = []
        if outcome.without_password:
            steps.append(
                _(
                    "These logins have no password yet: %(usernames)s. Give each one, typed and "
                    "never shown: python manage.py changepassword USERNAME (or set its "
                    "EXITDESK_…_PASSWORD variable and run this command again)."
                )
                % {"usernames": ", ".join(outcome.without_password)}
            )
        staff = ", ".join(dict.fromkeys(s.username for s in plan.staff))
        steps.append(
            _("Staff (%(usernames)s) log in to the admin at %(url)s.")
            % {"usernames": staff, "url": admin}
        )
        steps.append(
            _(
                "HR imports the directory (departments, then members) in the admin: "
                "%(departments)s and %(members)s."
            )
            % {
                "departments": self.link(
                    _url(
                        "admin:directory_department_import", "admin:directory_department_changelist"
                    )
                ),
                "members": self.link(
                    _url("admin:directory_member_import", "admin:directory_member_changelist")
                ),
            }
        )
        steps.append(
            _(
                "Members log in at %(url)s as login@%(code)s once they have a password: invite "
                "them from the members' admin."
            )
            % {"url": login, "code": enterprise.code}
        )
        if not any(a.person is bootstrap.BACKUP_ADMIN for a in plan.admins) and plan.creating:
            steps.append(
                _("%(enterprise)s has no backup admin: its super admin designates one at %(url)s.")
                % {
                    "enterprise": enterprise.name,
                    "url": self.link(_url("offboarding:backup_admin")),
                }
            )
        else:
            steps.append(
                _("Later changes of the backup admin go through the super admin's page %(url)s.")
                % {"url": self.link(_url("offboarding:backup_admin"))}
            )
        for number, step in enumerate(steps, start=1):
            self.stdout.write(f"  {number}. {step}")
