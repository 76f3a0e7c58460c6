"""`POST /api/hr/directory`: the HR system's directory sync — joiners become members with their
logins, movers change department, manager and title (history and audit), leavers become `hr_sync`
exits through the HR sync. All or nothing per call, idempotent by external id, behind the same
token, throttle and limits as the terminations endpoint."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory import table_stats
from directory.choices import DepartmentStatus, MemberRole, MemberStatus, StaffRole
from directory.models import Member
from offboarding import hr_sync
from offboarding.choices import DirectorySyncKind, ExitKind, ExitState, TerminationState
from offboarding.models import DirectorySyncRecord, Exit, HRSyncToken, HRTermination
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/hr/directory"
NEXT_MONTH = (timezone.localdate() + timedelta(days=30)).isoformat()


@pytest.fixture
def enterprise(db):
    return factories.EnterpriseFactory(name="示例科技", code="acme")


@pytest.fixture
def headquarters(enterprise):
    return factories.DepartmentFactory(enterprise=enterprise, name="总部")


@pytest.fixture
def sales(enterprise, headquarters):
    return factories.DepartmentFactory(enterprise=enterprise, name="销售部", parent=headquarters)


@pytest.fixture
def boss(enterprise, headquarters):
    return factories.MemberFactory(
        enterprise=enterprise, department=headquarters, name="王总监", employee_number="E100"
    )


@pytest.fixture
def staffer(enterprise, headquarters, boss):
    return factories.MemberFactory(
        enterprise=enterprise,
        department=headquarters,
        manager=boss,
        name="李四",
        employee_number="E200",
        title="专员",
    )


@pytest.fixture
def token(enterprise, hr_user):
    _row, raw = hr_sync.create_token(enterprise, name="北森 HR", actor=hr_user)
    return raw


@pytest.fixture
def throttle_of_three(settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    settings.API_TOKEN_FAILURE_WINDOW = timedelta(minutes=15)


def joiner(**fields):
    return {
        "external_id": "J-1",
        "employee_number": "E300",
        "name": "张伟",
        "department": "总部/销售部",
        "manager": "E100",
        "title": "销售代表",
        "email": "zhang.wei@example.cn",
        "mobile": "+86 138 0000 0000",
        "login": "zhang.wei",
        **fields,
    }


def mover(**fields):
    return {"external_id": "M-1", "employee_number": "E200", **fields}


def leaver(**fields):
    return {
        "external_id": "L-1",
        "employee_number": "E200",
        "last_working_day": NEXT_MONTH,
        "reason": "合同到期",
        **fields,
    }


def post(client, body, token=None, **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def written() -> dict:
    """What a call may write, counted."""
    return {
        "members": Member.objects.count(),
        "member history": Member.history.count(),
        "users": get_user_model().objects.count(),
        "terminations": HRTermination.objects.count(),
        "records": DirectorySyncRecord.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


def test_the_url_is_the_documented_one():
    assert reverse("offboarding:api_hr_directory") == URL


# ---------------------------------------------------------------------------------------------
# Joiners


def test_joiners_become_members_with_their_logins(client, enterprise, sales, boss, token):
    body = {
        "joiners": [
            joiner(),
            joiner(external_id="J-2", employee_number="E301", name="刘洋", login=None, email=""),
        ]
    }

    response = post(client, body, token)

    assert response.status_code == 201, response.json()
    zhang = Member.objects.get(enterprise=enterprise, employee_number="E300")
    liu = Member.objects.get(enterprise=enterprise, employee_number="E301")
    assert (zhang.name, zhang.department, zhang.manager, zhang.title) == (
        "张伟",
        sales,
        boss,
        "销售代表",
    )
    assert (zhang.role, zhang.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)
    assert zhang.mobile == "+86 138 0000 0000"
    assert zhang.user.username == "zhang.wei@acme"
    assert zhang.user.email == "zhang.wei@example.cn"
    assert not zhang.user.has_usable_password()  # set through an invitation, never by HR
    assert liu.user.username == "e301@acme"  # the employee number, in lower case
    assert zhang.history.count() == 1
    answer = response.json()
    assert (answer["created"], answer["already_received"]) == (2, 0)
    assert answer["joiners"] == [
        {"index": 0, "external_id": "J-1", "status": "new", "member": zhang.pk},
        {"index": 1, "external_id": "J-2", "status": "new", "member": liu.pk},
    ]
    joined = AuditEvent.objects.filter(action="member_joined", member_id=zhang.pk).get()
    assert joined.data["external_id"] == "J-1" and joined.data["department_id"] == sales.pk
    assert "张伟" not in json.dumps(joined.data, ensure_ascii=False)  # no personal data
    record = DirectorySyncRecord.objects.get(external_id="J-1")
    assert (record.kind, record.member, record.token) == (
        DirectorySyncKind.JOINER,
        zhang,
        HRSyncToken.objects.get(),
    )


def test_a_department_is_named_by_its_code_before_any_name(
    client, enterprise, headquarters, sales, boss, token
):
    # given the sales department coded "sales" by a directory import, and a top-level department
    # whose name is "sales" too
    sales.code = "sales"
    sales.save(update_fields=["code"])
    factories.DepartmentFactory(enterprise=enterprise, name="sales", parent=None)

    response = post(client, {"joiners": [joiner(department="sales")]}, token)

    assert response.status_code == 201, response.json()
    assert Member.objects.get(enterprise=enterprise, employee_number="E300").department == sales


def test_a_joiner_may_be_managed_by_a_joiner_listed_after_them(client, enterprise, sales, token):
    body = {
        "joiners": [
            joiner(manager="E400"),
            joiner(
                external_id="J-2", employee_number="E400", name="赵经理", manager="", login="zhao"
            ),
        ]
    }

    response = post(client, body, token)

    assert response.status_code == 201, response.json()
    zhang = Member.objects.get(employee_number="E300")
    assert zhang.manager == Member.objects.get(employee_number="E400")
    # Inserted manager first: the creation's history row already names the manager.
    assert zhang.history.get().manager_id == zhang.manager_id


def test_joiners_who_manage_each_other_in_a_circle_are_refused(client, enterprise, sales, token):
    body = {
        "joiners": [
            joiner(manager="E400"),
            joiner(external_id="J-2", employee_number="E400", manager="E300", login="zhao"),
        ]
    }
    before = written()

    response = post(client, body, token)

    assert response.status_code == 400
    assert {row["index"] for row in response.json()["rows"]} == {0, 1}
    assert "loop" in response.json()["rows"][0]["errors"]["manager"][0]
    assert written() == before


def test_a_joiner_is_never_created_as_an_admin_or_the_super_admin(
    client, enterprise, sales, boss, token
):
    body = {"joiners": [joiner(role="super_admin"), joiner(external_id="J-2", is_backup_admin=1)]}
    before = written()

    response = post(client, body, token)

    assert response.status_code == 400
    rows = response.json()["rows"]
    assert "super-admin handover" in rows[0]["errors"]["role"][0]
    assert "is_backup_admin" in rows[1]["errors"]
    assert written() == before
    assert not Member.objects.filter(role=MemberRole.SUPER_ADMIN).exists()


@pytest.mark.parametrize(
    "fields, field_name",
    [
        ({"department": "总部/市场部"}, "department"),
        ({"department": "销售部"}, "department"),  # not at the top
        ({"department": ["总部"]}, "department"),
        ({"manager": "E999"}, "manager"),
        ({"manager": "E300"}, "manager"),  # themselves
        ({"employee_number": "E100", "manager": ""}, "employee_number"),  # taken
        ({"name": ""}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"mobile": "call me"}, "mobile"),
        ({"login": "张伟"}, "login"),
        ({"login": "boss"}, "login"),  # taken
        ({"data_region": "XX"}, "data_region"),
        ({"external_id": ""}, "external_id"),
        ({"title": "长" * 101}, "title"),
    ],
)
def test_a_bad_joiner_is_a_row_error(client, enterprise, sales, boss, token, fields, field_name):
    factories.UserFactory(username="boss@acme")
    before = written()

    response = post(client, {"joiners": [joiner(**fields)]}, token)

    assert response.status_code == 400
    assert list(response.json()["rows"][0]["errors"]) == [field_name]
    assert written() == before


def test_a_dissolved_department_takes_no_joiner(client, enterprise, sales, boss, token):
    sales.status = DepartmentStatus.DISSOLVED
    sales.save()

    response = post(client, {"joiners": [joiner(department=sales.pk)]}, token)

    assert response.status_code == 400
    assert "dissolved" in response.json()["rows"][0]["errors"]["department"][0]


# ---------------------------------------------------------------------------------------------
# Movers


def test_movers_change_department_manager_and_title_with_history_and_audit(
    client, enterprise, sales, boss, staffer, token
):
    new_boss = factories.MemberFactory(enterprise=enterprise, employee_number="E150")
    history_before = staffer.history.count()

    response = post(
        client,
        {"movers": [mover(department=sales.pk, manager="E150", title="销售经理")]},
        token,
    )

    assert response.status_code == 201, response.json()
    staffer.refresh_from_db()
    assert (staffer.department, staffer.manager, staffer.title) == (sales, new_boss, "销售经理")
    assert staffer.history.count() == history_before + 1
    moved = AuditEvent.objects.get(action="member_moved", member_id=staffer.pk)
    assert moved.data["before"] == {
        "department_id": staffer.history.earliest().department_id,
        "manager_id": boss.pk,
        "title": "专员",
    }
    assert moved.data["after"] == {
        "department_id": sales.pk,
        "manager_id": new_boss.pk,
        "title": "销售经理",
    }
    assert response.json()["movers"][0]["member"] == staffer.pk


def test_a_mover_changes_only_what_it_names(client, enterprise, headquarters, boss, staffer, token):
    response = post(client, {"movers": [mover(manager=None)]}, token)

    assert response.status_code == 201
    staffer.refresh_from_db()
    assert (staffer.manager, staffer.department, staffer.title) == (None, headquarters, "专员")


def test_a_mover_may_report_to_a_joiner_of_the_same_call(client, enterprise, sales, staffer, token):
    response = post(
        client, {"joiners": [joiner(manager="")], "movers": [mover(manager="E300")]}, token
    )

    assert response.status_code == 201, response.json()
    staffer.refresh_from_db()
    assert staffer.manager == Member.objects.get(employee_number="E300")


def test_a_move_that_would_make_a_loop_is_refused_and_nothing_is_written(
    client, enterprise, sales, boss, staffer, token
):
    before = written()

    # The boss would report to the staffer, who reports to the boss.
    response = post(
        client,
        {"joiners": [joiner()], "movers": [mover(employee_number="E100", manager="E200")]},
        token,
    )

    assert response.status_code == 400
    (row,) = response.json()["rows"]
    assert (row["list"], row["index"]) == ("movers", 0)
    assert "loop" in row["errors"]["__all__"][0]
    assert written() == before
    boss.refresh_from_db()
    assert boss.manager is None


def test_a_mover_names_a_member_who_has_not_departed(client, enterprise, boss, token):
    factories.MemberFactory(
        enterprise=enterprise, employee_number="E500", status=MemberStatus.DEPARTED
    )
    body = {
        "movers": [
            mover(employee_number="E500", title="x"),
            mover(external_id="M-2", employee_number="E999", title="x"),
            mover(external_id="M-3", employee_number="E100"),  # changes nothing named
        ]
    }

    response = post(client, body, token)

    assert response.status_code == 400
    rows = response.json()["rows"]
    assert [(row["index"], list(row["errors"])) for row in rows] == [
        (0, ["employee_number"]),
        (1, ["employee_number"]),
        (2, ["__all__"]),
    ]


# ---------------------------------------------------------------------------------------------
# Leavers


def test_leavers_become_hr_sync_exits_never_a_silent_deactivation(
    client, enterprise, boss, staffer, token
):
    response = post(client, {"leavers": [leaver()]}, token)

    assert response.status_code == 201, response.json()
    termination = HRTermination.objects.get(external_id="L-1")
    assert response.json()["leavers"] == [
        {
            "index": 0,
            "external_id": "L-1",
            "status": "new",
            "member": staffer.pk,
            "termination": termination.pk,
        }
    ]
    staffer.refresh_from_db()
    assert staffer.status == MemberStatus.ACTIVE and staffer.user.is_active  # not yet: an exit
    assert termination.state == TerminationState.PENDING
    assert DirectorySyncRecord.objects.get(external_id="L-1").termination == termination

    hr_sync.sync_pending()

    exit_case = Exit.objects.get(member=staffer)
    assert (exit_case.kind, exit_case.state) == (ExitKind.HR_SYNC, ExitState.DRAFT)
    staffer.refresh_from_db()
    assert staffer.status == MemberStatus.ACTIVE  # HR removes the member from the exit


def test_a_super_admin_leaver_stops_where_the_handover_is_needed(client, enterprise, token):
    chief = factories.SuperAdminFactory(enterprise=enterprise, employee_number="E001")

    response = post(client, {"leavers": [leaver(employee_number="E001")]}, token)
    hr_sync.sync_pending()

    assert response.status_code == 201
    termination = HRTermination.objects.get(external_id="L-1")
    assert termination.state == TerminationState.SYNCED
    assert hr_sync.removal_blockers(termination.exit_case)  # the handover first
    chief.refresh_from_db()
    assert chief.is_active_super_admin and chief.user.is_active


def test_a_termination_received_through_the_terminations_endpoint_is_already_received(
    client, enterprise, staffer, token
):
    hr_sync.receive(enterprise, [leaver()], source="api")

    response = post(client, {"leavers": [leaver()]}, token)

    assert response.status_code == 200
    assert response.json()["leavers"][0]["status"] == "already_received"
    assert HRTermination.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# All or nothing, idempotent


def test_one_bad_row_among_good_ones_is_a_400_with_its_index_and_nothing_is_written(
    client, enterprise, sales, boss, staffer, token
):
    body = {
        "joiners": [
            joiner(),
            joiner(external_id="J-2", employee_number="E301", login=None, department=999),
        ],
        "movers": [mover(title="主管")],
        "leavers": [leaver(employee_number="E100", last_working_day="2026-13-01")],
    }
    before = written()

    response = post(client, body, token)

    assert response.status_code == 400
    answer = response.json()
    assert "2 of the rows have errors" in answer["error"]
    assert [(row["list"], row["index"], list(row["errors"])) for row in answer["rows"]] == [
        ("joiners", 1, ["department"]),
        ("leavers", 0, ["last_working_day"]),
    ]
    assert written() == before
    staffer.refresh_from_db()
    assert staffer.title == "专员"


def test_the_same_call_twice_is_200_and_changes_nothing(
    client, enterprise, sales, boss, staffer, token
):
    body = {
        "joiners": [joiner()],
        "movers": [mover(title="主管")],
        "leavers": [leaver(employee_number="E100")],
    }
    first = post(client, body, token)
    after_first = written()

    second = post(client, body, token)

    assert first.status_code == 201
    assert second.status_code == 200
    answer = second.json()
    assert (answer["created"], answer["already_received"]) == (0, 3)
    assert [row["member"] for row in answer["joiners"]] == [
        Member.objects.get(employee_number="E300").pk
    ]
    assert answer["leavers"][0]["termination"] == HRTermination.objects.get().pk
    assert written() == after_first


def test_a_row_sent_again_is_already_received_even_once_the_member_moved_on(
    client, enterprise, sales, boss, staffer, token
):
    post(client, {"joiners": [joiner()]}, token)
    post(
        client, {"movers": [mover(employee_number="E300", title="主管", external_id="M-9")]}, token
    )

    response = post(client, {"joiners": [joiner()]}, token)

    assert response.status_code == 200


def test_the_same_external_id_with_other_values_is_a_row_error(
    client, enterprise, sales, boss, staffer, token
):
    post(client, {"movers": [mover(title="主管")]}, token)

    response = post(client, {"movers": [mover(title="经理")]}, token)

    assert response.status_code == 400
    assert "received before" in response.json()["rows"][0]["errors"]["external_id"][0]
    staffer.refresh_from_db()
    assert staffer.title == "主管"


def test_the_same_row_twice_in_one_call_is_applied_once(client, enterprise, sales, boss, token):
    response = post(client, {"joiners": [joiner(), joiner()]}, token)

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["already_received"]) == (1, 1)
    assert Member.objects.filter(employee_number="E300").count() == 1


# ---------------------------------------------------------------------------------------------
# The tenant wall


def test_another_enterprises_manager_and_department_are_bad_rows(
    client, enterprise, sales, boss, token
):
    other = factories.EnterpriseFactory(name="别家公司")
    their_department = factories.DepartmentFactory(enterprise=other, name="总部")
    their_member = factories.MemberFactory(
        enterprise=other, employee_number="X900", department=their_department
    )
    before = written()

    response = post(
        client,
        {
            "joiners": [joiner(manager=their_member.employee_number)],
            "movers": [mover(employee_number="E100", department=their_department.pk)],
            "leavers": [leaver(employee_number="X900")],
        },
        token,
    )

    assert response.status_code == 400
    assert [(row["list"], list(row["errors"])) for row in response.json()["rows"]] == [
        ("joiners", ["manager"]),
        ("movers", ["department"]),
        ("leavers", ["employee_number"]),
    ]
    assert written() == before
    assert "别家" not in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Token, throttle, body


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic aHI6cHc="])
def test_a_missing_or_wrong_token_is_401_and_nothing_written(
    client, enterprise, sales, boss, token, authorization
):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    before = written()

    response = post(client, {"joiners": [joiner()]}, **extra)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert written() == before


def test_a_revoked_token_is_refused(client, enterprise, sales, boss, token, hr_user):
    hr_sync.revoke_token(HRSyncToken.objects.get(), actor=hr_user)

    response = post(client, {"joiners": [joiner()]}, token)

    assert response.status_code == 401
    assert response.json() == {"error": "This token is not valid, or was revoked."}
    assert not Member.objects.filter(employee_number="E300").exists()


def test_wrong_tokens_are_throttled_per_address_for_both_endpoints(
    client, enterprise, sales, boss, token, throttle_of_three
):
    here = {"REMOTE_ADDR": "203.0.113.7"}
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert post(client, {"joiners": [joiner()]}, "guess", **here).status_code == 401
        terminations = client.post(
            "/api/hr/terminations",
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer guess",
            **here,
        )
        assert terminations.status_code == 401  # one count for both endpoints
        assert post(client, {"joiners": [joiner()]}, "guess", **here).status_code == 401

        refused = post(client, {"joiners": [joiner()]}, token, **here)

        assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
        assert not Member.objects.filter(employee_number="E300").exists()
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert post(client, {"joiners": [joiner()]}, token, **here).status_code == 201


@pytest.mark.parametrize(
    "body, says",
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"joiners": {"name": "x"}}', "JSON object"),
        ('{"joiners": [], "departments": []}', "Unknown keys: departments"),
        ('{"joiners": [], "movers": []}', "nothing to sync"),
        ("{}", "nothing to sync"),
        ('{"joiners": ' + "[" * 50 + "]" * 50 + "}", "nested too deeply"),
    ],
)
def test_a_malformed_body_is_400_with_the_reason(client, enterprise, token, body, says):
    response = post(client, body, token)

    assert response.status_code == 400
    assert says in response.json()["error"]


def test_only_post_is_allowed(client, token):
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_body_over_the_limit_is_413(client, enterprise, token, monkeypatch):
    monkeypatch.setattr("offboarding.api.MAX_BODY", 100)
    response = post(client, {"joiners": [joiner()]}, token)
    assert response.status_code == 413


# ---------------------------------------------------------------------------------------------
# Queries: set-based


def _queries(client, token, body) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body, token)
    assert response.status_code == 201, response.json()
    return len(queries)


def test_joiners_and_leavers_take_the_same_queries_however_many(
    client, enterprise, sales, boss, token
):
    leavers = [
        factories.MemberFactory(enterprise=enterprise, employee_number=f"L{n:03d}")
        for n in range(12)
    ]

    def body(start, count):
        return {
            "joiners": [
                joiner(
                    external_id=f"J-{n}",
                    employee_number=f"N{n:03d}",
                    login=f"new{n}",
                    # half report to the boss, half to the first joiner of the call
                    manager="E100" if n % 2 else f"N{start:03d}",
                )
                for n in range(start, start + count)
            ],
            "leavers": [
                leaver(external_id=f"L-{n}", employee_number=leavers[n].employee_number)
                for n in range(start, start + count)
            ],
        }

    # Two levels of joiners in each call (a joiner who reports to a joiner): one insert each.
    few = _queries(client, token, _fix_first_manager(body(0, 3)))
    many = _queries(client, token, _fix_first_manager(body(3, 9)))

    assert many == few


def _fix_first_manager(body):
    first = body["joiners"][0]
    first["manager"] = "E100"  # the first joiner of a call reports to the boss
    return body


def test_each_mover_takes_a_fixed_number_of_queries(client, enterprise, sales, boss, token):
    staff = [
        factories.MemberFactory(enterprise=enterprise, manager=boss, employee_number=f"S{n:03d}")
        for n in range(9)
    ]

    def body(members, tag):
        return {
            "movers": [
                mover(external_id=f"{tag}-{m.pk}", employee_number=m.employee_number, title=tag)
                for m in members
            ]
        }

    one = _queries(client, token, body(staff[:1], "a"))
    three = _queries(client, token, body(staff[1:4], "b"))
    five = _queries(client, token, body(staff[4:9], "c"))

    # The same per mover (its update_member: lock, validation, save, history), no look-up per
    # row: the references are looked up once for the call.
    assert five - three == three - one
    assert (three - one) // 2 <= 25


def test_a_call_received_before_takes_the_same_queries_however_many_rows(
    client, enterprise, sales, boss, token
):
    def body(count, tag):
        return {
            "joiners": [
                joiner(external_id=f"{tag}-{n}", employee_number=f"{tag}{n:03d}", login=None)
                for n in range(count)
            ]
        }

    few, many = body(2, "A"), body(8, "B")
    post(client, few, token)
    post(client, many, token)

    def resent(payload) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = post(client, payload, token)
        assert response.status_code == 200
        assert all(row["member"] for row in response.json()["joiners"])
        return len(queries)

    assert resent(many) == resent(few)


def test_too_many_rows_in_one_call_are_refused_as_a_whole(
    client, enterprise, sales, boss, token, monkeypatch
):
    monkeypatch.setattr("offboarding.directory_sync.MAX_ROWS", 2)

    response = post(client, {"joiners": [joiner()], "movers": [mover(), mover()]}, token)

    assert response.status_code == 400
    assert "At most 2 rows" in response.json()["error"]


def test_a_new_token_shows_both_endpoints_once(hr_client, enterprise):
    response = hr_client.post(
        reverse("admin:offboarding_hrsynctoken_add"), {"enterprise": enterprise.pk, "name": "北森"}
    )

    page = response.content.decode()
    assert "/api/hr/terminations" in page and "/api/hr/directory" in page


def test_hr_reads_the_received_rows_and_another_enterprises_hr_does_not(
    client, hr_client, enterprise, sales, boss, token
):
    post(client, {"joiners": [joiner()]}, token)
    record = DirectorySyncRecord.objects.get()
    page = reverse("admin:offboarding_directorysyncrecord_change", args=[record.pk])

    assert hr_client.get(page).status_code == 200
    assert hr_client.post(page).status_code == 403  # read-only
    assert (
        "J-1"
        in hr_client.get(
            reverse("admin:offboarding_directorysyncrecord_changelist")
        ).content.decode()
    )
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise__name="别家公司", role=StaffRole.HR
    )
    client.force_login(other_hr)
    assert client.get(page).status_code in (302, 404)  # answered as not existing


@pytest.mark.parametrize("bulk_rows, analyzed", [(2, True), (3, False)])
def test_a_call_writing_bulk_rows_analyzes_the_directory_once_committed(
    client,
    enterprise,
    sales,
    boss,
    token,
    monkeypatch,
    django_capture_on_commit_callbacks,
    bulk_rows,
    analyzed,
):
    # given a call of two joiners, and bulk work starting at `bulk_rows` rows
    monkeypatch.setattr(table_stats, "BULK_ROWS", bulk_rows)
    body = {
        "joiners": [
            joiner(),
            joiner(external_id="J-2", employee_number="E301", name="刘洋", login=None, email=""),
        ]
    }

    # when
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, body, token)

    # then the members' table is analyzed after a bulk call only
    assert response.status_code == 201, response.json()
    statements = [query["sql"] for query in queries.captured_queries]
    assert (f'ANALYZE "{Member._meta.db_table}"' in statements) is analyzed


@pytest.mark.parametrize("levels", [50, 100_000])
def test_a_deeply_nested_body_is_a_400_that_says_so_and_writes_nothing(
    client, enterprise, token, levels
):
    before = written()
    body = '{"joiners": ' + "[" * levels + "]" * levels + "}"

    response = post(client, body, token)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The body is nested too deeply: at most 5 levels of objects and lists."
    }
    assert written() == before
