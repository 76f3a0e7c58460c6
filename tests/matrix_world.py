"""The world the permission matrix (tests/test_permission_matrix.py) requests every URL in.

One enterprise ("home") with one row of every model of every app, the people who work in it, and
another enterprise whose staff must see none of it. `url_for` turns every URL pattern the project
serves into an address of a home row: object ids, history ids, item ids, transition names…

Everything is built through the services and the workflow's doors, so the exit is one a person
could have reached: a voluntary exit in `pending_approval`, whose current step is decided by the
employee's direct manager. A second exit, a removal in handover, carries the handover (离职继承)
URLs: its member's resources were handed over once to the manager, who had room for one of the two
external contacts only (one item `waiting`, one `receiver_full`; the other contact is still the
member's, so handing over again still has something to move).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from compliance import erasure, exports, holds, retention, sealing
from compliance.choices import RecordCategory, RetentionAction
from compliance.models import AuditEvent, RetentionPolicy, WorkRecord
from directory.choices import JobStatus, MemberRole, MemberStatus, StaffRole
from directory.models import EnterpriseAccess, JobRun
from directory.permissions import GROUP_NAMES, grant_access
from offboarding import (
    backup,
    directory_sync,
    handover,
    hr_sync,
    inheritance,
    notifications,
    services,
    workflow,
)
from offboarding.choices import ApproverKind, ExitKind, InheritanceStatus, Team, Transition
from offboarding.models import (
    ApprovalChainStep,
    ChecklistTemplateItem,
    DirectorySyncRecord,
    GroupRobot,
    HRTermination,
    InheritanceItem,
    Notification,
)
from tests import factories

# The roles of the matrix.
ANONYMOUS = "anonymous"
EMPLOYEE = "employee"  # an ordinary member with a login, no staff; their exit is pending
MANAGER = "manager"  # the employee's direct manager, who decides the exit's current step
HR = "hr"
IT = "it"
COMPLIANCE = "compliance"
SUPERUSER = "superuser"
OTHER_HR = "other_hr"  # HR, IT and Compliance of another enterprise
OTHER_IT = "other_it"
OTHER_COMPLIANCE = "other_compliance"

ROLES = (
    ANONYMOUS,
    EMPLOYEE,
    MANAGER,
    HR,
    IT,
    COMPLIANCE,
    SUPERUSER,
    OTHER_HR,
    OTHER_IT,
    OTHER_COMPLIANCE,
)
STAFF_ROLES = {HR: StaffRole.HR, IT: StaffRole.IT, COMPLIANCE: StaffRole.COMPLIANCE}
OTHER_STAFF_ROLES = {
    OTHER_HR: StaffRole.HR,
    OTHER_IT: StaffRole.IT,
    OTHER_COMPLIANCE: StaffRole.COMPLIANCE,
}

# What fills a URL argument that names neither a row nor a history version.
TRANSITION_NAME = Transition.CANCEL.value  # admin/offboarding/exit/<id>/transition/<str:name>/
REVIEW_NAME = Team.HR.value  # admin/offboarding/exit/<id>/review/<str:name>/sign-off/
APP_LABEL = "directory"  # admin/(?P<app_label>…)/
UNKNOWN_ADMIN_PAGE = "directory/no-such-page/"  # admin/(?P<url>.*)$, the admin's catch-all
# Query strings a URL needs to do its work (the autocomplete answers nothing without them).
QUERY_STRINGS = {
    "admin/autocomplete/": "app_label=directory&model_name=customergroup&field_name=owner&term=",
}

# Names for the unnamed groups of a regex pattern, by position (django-simple-history's
# `^([^/]+)/history/([^/]+)/$` is the only one so far).
POSITIONAL_ARGUMENTS = ("object_id", "version_id")

_ADMIN_MODEL_ROUTE = re.compile(r"^admin/(?P<app_label>\w+)/(?P<model_name>\w+)/")


# ---------------------------------------------------------------------------------------------
# Every URL pattern the project serves


@dataclass(frozen=True)
class Route:
    """One URL pattern, keyed by its full route string (as `ResolverMatch.route` spells it)."""

    key: str
    chain: tuple  # the pattern objects from the root resolver down to this URLPattern

    @property
    def arguments(self) -> list[str]:
        """The names of the URL's arguments, in order (unnamed regex groups by position)."""
        names = []
        for pattern in self.chain:
            names += [name for name, _converter in _arguments_of(pattern)]
        return names


def every_route() -> list[Route]:
    """Every URL pattern of the root URLconf, recursing into includes, in resolution order."""

    def walk(resolver, key, chain):
        for pattern in resolver.url_patterns:
            joined = URLResolver._join_route(key, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, joined, (*chain, pattern))
            else:
                assert isinstance(pattern, URLPattern)
                yield Route(joined, (*chain, pattern))

    return list(walk(get_resolver(), "", ()))


_ROUTE_ARGUMENT = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _regex_groups(regex: str) -> list[tuple[int, int, str | None]]:
    """The top-level groups of `regex`: (start, end, name or None), non-capturing ones left out."""
    groups, stack, index = [], [], 0
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            stack.append(index)
        elif char == ")":
            start = stack.pop()
            if not stack:
                body = regex[start + 1 : index]
                named = re.match(r"\?P<(\w+)>", body)
                if named or not body.startswith("?"):
                    groups.append((start, index + 1, named.group(1) if named else None))
        index += 1
    return groups


def _arguments_of(pattern) -> list[tuple[str, str | None]]:
    """(name, converter) of each argument of one pattern object."""
    text = str(pattern.pattern)
    if pattern.pattern.__class__.__name__ == "RoutePattern":
        return [(m["name"], m["converter"] or "str") for m in _ROUTE_ARGUMENT.finditer(text)]
    arguments, position = [], 0
    for _start, _end, name in _regex_groups(text):
        if name is None:
            name = POSITIONAL_ARGUMENTS[position]
            position += 1
        arguments.append((name, None))
    return arguments


def _fill(pattern, values: dict[str, str]) -> str:
    text = str(pattern.pattern)
    if pattern.pattern.__class__.__name__ == "RoutePattern":
        return _ROUTE_ARGUMENT.sub(lambda m: values[m["name"]], text)
    filled, last, position = [], 0, 0
    for start, end, name in _regex_groups(text):
        if name is None:
            name = POSITIONAL_ARGUMENTS[position]
            position += 1
        filled += [text[last:start], values[name]]
        last = end
    filled.append(text[last:])
    return "".join(filled).removeprefix("^").removesuffix("$")


def path_of(route: Route, values: dict[str, str]) -> str:
    """The address of `route` with its arguments filled from `values` (text already quoted)."""
    return "/" + "".join(_fill(pattern, values) for pattern in route.chain)


def admin_model_of(route: Route) -> type[models.Model] | None:
    """The model whose ModelAdmin serves `route`, if it is one."""
    from django.contrib import admin

    match = _ADMIN_MODEL_ROUTE.match(route.key)
    if match is None:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == (
            match["app_label"],
            match["model_name"],
        ):
            return model
    return None


# ---------------------------------------------------------------------------------------------
# The world


@dataclass
class World:
    enterprise: object
    other_enterprise: object
    employee: object  # Member
    manager: object  # Member
    other_member: object  # Member of the other enterprise
    exit_case: object
    checklist_item: object  # a manual HR item of the exit
    handover_exit: object  # a removal in handover, whose resources were partly handed over
    inheritance_batch: object  # its handover batch
    super_admin_handover: object  # the super admin's handover to the manager, not confirmed
    backup_designation: object  # the super admin's designation of the manager as backup admin
    backup_admin: object  # the standing backup admin (Member)
    freeze: object  # a stolen admin account, frozen
    rows: dict[type[models.Model], models.Model]  # the home row each admin URL names
    users: dict[str, object] = field(default_factory=dict)  # role → user (None: anonymous)

    def values_for(self, route: Route) -> dict[str, str]:
        """A value for each argument of `route`, naming a row of the home enterprise."""
        model = admin_model_of(route)
        row = self.rows.get(model) if model else None
        values = {}
        for name in route.arguments:
            values[name] = self._value(route, name, model, row)
        return values

    def url_for(self, route: Route) -> str:
        path = path_of(route, self.values_for(route))
        query = QUERY_STRINGS.get(route.key)
        return f"{path}?{query}" if query else path

    @property
    def home_names(self) -> list[str]:
        """Names only rows of the home enterprise carry: no page for another enterprise's staff
        may show one."""
        return [
            self.enterprise.name,
            self.employee.name,
            self.manager.name,
            self.handover_exit.member.name,
            self.backup_admin.name,
        ]

    def _value(self, route, name, model, row) -> str:
        if model is not None and row is None:
            raise LookupError(
                f"build_world() has no row of {model._meta.label} for {route.key!r}: add one"
            )
        if name == "object_id" and "/inheritance/" in route.key:
            return str(self.handover_exit.pk)
        if name == "batch_id":
            return str(self.inheritance_batch.pk)
        if name in ("object_id", "id") and row is not None:
            return str(row.pk)
        if name == "version_id" and row is not None:
            if not hasattr(row, "history"):  # a model without change history: any number
                return "1"
            return str(row.history.order_by("-history_id").values_list("history_id", flat=True)[0])
        if name == "name" and "/transition/" in route.key:
            return TRANSITION_NAME
        if name == "name" and "/review/" in route.key:
            return REVIEW_NAME
        if name == "position":  # an approval step of the pending exit: its first
            return "1"
        if name == "item_id":
            return str(self.checklist_item.pk)
        if name == "content_type_id":
            return str(ContentType.objects.get_for_model(self.employee).pk)
        if name == "object_id" and route.key.startswith("admin/r/"):
            return str(self.employee.pk)
        if name == "app_label":
            return APP_LABEL
        if name == "url":
            return UNKNOWN_ADMIN_PAGE
        if name == "pk" and route.key.startswith(("approvals/", "me/exit/")):
            return str(self.exit_case.pk)
        if name == "pk" and route.key.startswith("me/handover/"):
            return str(self.super_admin_handover.pk)
        if name == "pk" and route.key.startswith("me/freezes/"):
            return str(self.freeze.pk)
        if name == "pk" and route.key.startswith("me/backup/members/"):
            return str(self.backup_admin.pk)
        if name == "pk" and route.key.startswith("me/backup/"):
            return str(self.backup_designation.pk)
        if name == "provider_id":  # an OpenID Connect provider's id (none is configured here)
            return "corp"
        if name == "uidb64":
            return urlsafe_base64_encode(force_bytes(self.employee.user.pk))
        if name == "token":
            return default_token_generator.make_token(self.employee.user)
        raise LookupError(
            f"tests/matrix_world.py does not know what to put in <{name}> of {route.key!r}: "
            "teach World._value"
        )


# The world's data, in Chinese (the matrix's, and the Chinese language walk's) or in Latin letters
# (the English walk's, tests/test_languages.py): data never reads as interface text of the other
# language.
CHINESE_NAMES = {
    "enterprise": "示例科技",
    "robot": "HR 群",
    "language": "zh-hans",
    "other_enterprise": "别家公司",
    "department": "销售部",
    "manager": "李经理",
    "employee": "张三",
    "other_member": "别家员工",
    "other_department": "别家部门",
    "family_reason": "家庭原因",
    "leaver": "王五",
    "contract_ended": "合同到期",
    "stolen": "赵管理",
    "stolen_reason": "账号被盗",
    "super_admin": "孙总",
    "backup_admin": "周备用",
    "departed": "钱离职",
    "record_content": "报价单",
    "hold_reason": "诉讼保全",
    "leaver_asking": "孙删除",
    "token_name": "HR 系统",
    "contact": "客户甲",
    "company": "甲公司",
    "resource": "资源",
    "periodic_task": "矩阵任务",
    "job_error": "出错了",
}
LATIN_NAMES = {
    "enterprise": "Acme Tech",
    "robot": "HR group",
    "language": "en",
    "other_enterprise": "Other Corp",
    "department": "Sales",
    "manager": "Lee Manager",
    "employee": "Zhang San",
    "other_member": "Other Member",
    "other_department": "Other Department",
    "family_reason": "Family reasons",
    "leaver": "Wang Wu",
    "contract_ended": "Contract ended",
    "stolen": "Zhao Admin",
    "stolen_reason": "Account stolen",
    "super_admin": "Sun Chief",
    "backup_admin": "Zhou Backup",
    "departed": "Qian Departed",
    "record_content": "Quotation",
    "hold_reason": "Litigation",
    "leaver_asking": "Sun Erase",
    "token_name": "HR system",
    "contact": "Customer Alpha",
    "company": "Alpha Ltd",
    "resource": "Resource",
    "periodic_task": "Matrix job",
    "job_error": "Something broke",
}


def build_world(names: dict[str, str] = CHINESE_NAMES) -> World:
    """One row of every model of every app in the home enterprise, and the people around it,
    its data spelled from `names`."""
    owned = {"name": names["resource"]}
    contact = {"name": names["contact"], "company": names["company"]}
    enterprise = factories.EnterpriseFactory(name=names["enterprise"], language=names["language"])
    other_enterprise = factories.EnterpriseFactory(name=names["other_enterprise"])

    department = factories.DepartmentFactory(enterprise=enterprise, name=names["department"])
    manager = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        name=names["manager"],
        user__username="manager",
    )
    employee = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        manager=manager,
        name=names["employee"],
        user__username="employee",
    )
    other_member = factories.MemberFactory(
        enterprise=other_enterprise,
        name=names["other_member"],
        department__name=names["other_department"],
    )

    # The six resources, owned by the manager: the employee owns nothing, so their exit submits.
    resources = [
        factories.ExternalContactFactory(enterprise=enterprise, owner=manager, **contact),
        factories.CustomerGroupFactory(enterprise=enterprise, owner=manager, **owned),
        factories.AppAuthorizationFactory(enterprise=enterprise, owner=manager, **owned),
        factories.ThirdPartyBindingFactory(enterprise=enterprise, owner=manager, **owned),
        factories.ApprovalTemplateFactory(enterprise=enterprise, owner=manager, **owned),
        factories.SharedCalendarFactory(enterprise=enterprise, owner=manager, **owned),
    ]

    users = {ANONYMOUS: None, EMPLOYEE: employee.user, MANAGER: manager.user}
    users[SUPERUSER] = factories.UserFactory(username="superuser", is_staff=True, is_superuser=True)
    for role, staff_role in STAFF_ROLES.items():
        users[role] = factories.StaffUserFactory(username=role)
        grant_access(user=users[role], enterprise=enterprise, role=staff_role)
    for role, staff_role in OTHER_STAFF_ROLES.items():
        users[role] = factories.StaffUserFactory(username=role)
        grant_access(user=users[role], enterprise=other_enterprise, role=staff_role)

    # The enterprise's own approval chain and checklist template, then the employee's exit:
    # opened and submitted by the employee, waiting for the manager's decision.
    chain_step = ApprovalChainStep.objects.create(
        enterprise=enterprise, position=1, approver=ApproverKind.DIRECT_MANAGER
    )
    ApprovalChainStep.objects.create(enterprise=enterprise, position=2, approver=ApproverKind.HR)
    services.copy_default_checklist(enterprise, actor=users[HR])
    exit_case = services.open_exit(
        member=employee,
        kind=services.voluntary_kind_for(employee),
        last_working_day=services.local_today(enterprise) + timedelta(days=14),
        reason=names["family_reason"],
        actor=employee.user,
    )
    exit_case = workflow.submit(exit_case, actor=employee.user)
    checklist_item = exit_case.checklist.filter(auto_check="", team=Team.HR).order_by("position")[0]

    # The removal in handover: its member owns two contacts and a customer group; the manager,
    # who already looks after one contact, may look after two.
    leaver = factories.MemberFactory(
        enterprise=enterprise, department=department, manager=manager, name=names["leaver"]
    )
    for _n in range(2):
        factories.ExternalContactFactory(enterprise=enterprise, owner=leaver, **contact)
    factories.CustomerGroupFactory(enterprise=enterprise, owner=leaver, **owned)
    enterprise.customer_limit_per_member = 2
    enterprise.save(update_fields=["customer_limit_per_member"])
    handover_exit = services.open_exit(
        member=leaver,
        kind=ExitKind.PASSIVE,
        last_working_day=services.local_today(enterprise) + timedelta(days=14),
        reason=names["contract_ended"],
        actor=users[HR],
    )
    handover_exit = workflow.remove(handover_exit, actor=users[HR])
    batch = inheritance.inherit(handover_exit, actor=users[HR])
    full_item = InheritanceItem.objects.get(batch=batch, status=InheritanceStatus.RECEIVER_FULL)

    # A stolen admin account, frozen by HR (the super admin is untouched: an admin's account).
    stolen = factories.MemberFactory(
        enterprise=enterprise, department=department, name=names["stolen"], role=MemberRole.ADMIN
    )
    freeze = handover.freeze_account(stolen, actor=users[HR], reason=names["stolen_reason"])

    # The super admin is leaving and has named the manager as the new super admin, who has not
    # confirmed yet (超级管理员移交): the manager's confirmation page is open to them alone.
    super_admin = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        name=names["super_admin"],
        role=MemberRole.SUPER_ADMIN,
    )
    super_admin.user.set_password("matrix-password")
    super_admin.user.save()
    services.open_exit(
        member=super_admin,
        kind=ExitKind.VOLUNTARY_ADMIN,
        last_working_day=services.local_today(enterprise) + timedelta(days=30),
        actor=super_admin.user,
    )
    super_admin_handover = handover.request_handover(
        super_admin, actor=super_admin.user, new_admin=manager, password="matrix-password"
    )
    # The enterprise's backup admin (seeded in the data), and the super admin's designation of the
    # manager in their place, waiting for the manager to accept it with both factors.
    backup_admin = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        name=names["backup_admin"],
        role=MemberRole.ADMIN,
        is_backup_admin=True,
    )
    backup_designation = backup.designate_backup_admin(
        super_admin, actor=super_admin.user, candidate=manager, password="matrix-password"
    )

    # Compliance: a departed member's records, sealed, and one export of them; a retention
    # policy; a legal hold on them; another departed member's erasure request, received. Every
    # door above wrote the enterprise's audit trail.
    departed = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        name=names["departed"],
        status=MemberStatus.DEPARTED,
    )
    record = WorkRecord.objects.create(
        enterprise=enterprise,
        owner=departed,
        category=RecordCategory.CHAT,
        content=names["record_content"],
    )
    sealing.seal_member_records(departed, actor=None)
    record_export, _content, _filename = exports.export_records(
        departed, WorkRecord.objects.filter(pk=record.pk), actor=users[COMPLIANCE], format="csv"
    )
    policy = retention.save_policy(
        RetentionPolicy(
            enterprise=enterprise,
            category=RecordCategory.EXPENSE,
            keep_days=365,
            action=RetentionAction.PURGE,
        ),
        actor=users[COMPLIANCE],
    )
    hold = holds.place_hold(
        enterprise, member=departed, reason=names["hold_reason"], actor=users[COMPLIANCE]
    )
    leaver_asking = factories.MemberFactory(
        enterprise=enterprise,
        department=department,
        name=names["leaver_asking"],
        status=MemberStatus.DEPARTED,
    )
    erasure_request = erasure.receive(leaver_asking, actor=users[COMPLIANCE])
    audit_event = AuditEvent.objects.filter(enterprise=enterprise).order_by("seq").first()

    # A nightly job's run that failed in the home enterprise; an HR termination received from the
    # HR system, and the token it came with.
    job_run = JobRun.objects.create(
        job="offboarding.close_undo_windows",
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        counts={str(enterprise.pk): {"closed": 1}},
        errors=[{"enterprise": enterprise.pk, "error": names["job_error"]}],
    )
    token, _secret = hr_sync.create_token(enterprise, name=names["token_name"], actor=users[HR])
    hr_sync.receive(
        enterprise,
        [
            {
                "employee_number": manager.employee_number,
                "last_working_day": (services.local_today(enterprise) + timedelta(30)).isoformat(),
                "reason": names["contract_ended"],
                "external_id": "HR-1",
            }
        ],
        source="api",
        token=token,
    )
    hr_termination = HRTermination.objects.get(enterprise=enterprise, external_id="HR-1")
    # A title change of the employee received from the HR system's directory sync.
    directory_sync.receive(
        enterprise,
        {
            "movers": [
                {"external_id": "HR-M-1", "employee_number": employee.employee_number, "title": "x"}
            ]
        },
        token=token,
    )
    directory_sync_record = DirectorySyncRecord.objects.get(enterprise=enterprise)

    # HR's IM group robot (its address sealed), and the notifications the doors above wrote.
    robot = notifications.save_robot(
        GroupRobot(enterprise=enterprise, name=names["robot"]),
        actor=users[HR],
        url="json://127.0.0.1:9/robot",
    )
    notification = Notification.objects.filter(enterprise=enterprise).order_by("pk").first()

    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    rows = {
        type(row): row
        for row in [
            enterprise,
            department,
            employee,
            *resources,
            EnterpriseAccess.objects.get(user=users[HR], enterprise=enterprise),
            exit_case,
            chain_step,
            batch,
            full_item,
            freeze,
            super_admin_handover,
            record,
            record_export,
            policy,
            hold,
            erasure_request,
            audit_event,
            job_run,
            token,
            hr_termination,
            directory_sync_record,
            robot,
            notification,
            ChecklistTemplateItem.objects.filter(enterprise=enterprise).order_by("position")[0],
            interval,
            CrontabSchedule.objects.create(minute="0", hour="3"),
            SolarSchedule.objects.create(event="sunrise", latitude=31.23, longitude=121.47),
            ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1)),
            PeriodicTask.objects.create(
                name=names["periodic_task"], task="offboarding.tasks.noop", interval=interval
            ),
            Group.objects.get(name=GROUP_NAMES[StaffRole.HR]),
            employee.user,
            *_security_rows(),
        ]
    }
    return World(
        enterprise=enterprise,
        other_enterprise=other_enterprise,
        employee=employee,
        manager=manager,
        other_member=other_member,
        exit_case=exit_case,
        checklist_item=checklist_item,
        handover_exit=handover_exit,
        inheritance_batch=batch,
        super_admin_handover=super_admin_handover,
        backup_designation=backup_designation,
        backup_admin=backup_admin,
        freeze=freeze,
        rows=rows,
        users=users,
    )


def _security_rows() -> list[models.Model]:
    """django-axes' records of logins and failures: one of each, about the employee."""
    if not apps.is_installed("axes"):
        return []
    seen = {
        "user_agent": "matrix",
        "ip_address": "10.0.0.1",
        "username": "employee",
        "http_accept": "text/html",
        "path_info": "/accounts/login/",
    }
    return [
        apps.get_model("axes", "AccessAttempt").objects.create(
            **seen, get_data="", post_data="", failures_since_start=1
        ),
        apps.get_model("axes", "AccessLog").objects.create(**seen),
        apps.get_model("axes", "AccessFailureLog").objects.create(**seen),
    ]
