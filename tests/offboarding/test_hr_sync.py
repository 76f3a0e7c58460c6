"""HR sync (J-5, 钉钉「支持HR系统自动同步」): terminations received from the HR system (the CSV
import of the admin here; the JSON endpoint in test_hr_api.py) become `hr_sync` exits by the job
`offboarding.sync_hr_terminations` — each one once, whatever is sent twice or run twice."""

import tempfile
from datetime import date, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory.choices import JobStatus, MemberStatus, StaffRole
from directory.jobs import job_run
from directory.models import JobRun
from directory.previewed_import import PreviewedFileStorage
from offboarding import hr_sync
from offboarding.choices import ExitKind, ExitState, TerminationSource, TerminationState
from offboarding.models import Exit, HRTermination
from tests import factories

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:offboarding_hrtermination_import")
CONFIRM_URL = reverse("admin:offboarding_hrtermination_process_import")


@pytest.fixture
def leaver(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="张三", employee_number="E100")


@pytest.fixture
def another_leaver(enterprise):
    return factories.MemberFactory(enterprise=enterprise, name="李四", employee_number="E200")


@pytest.fixture
def other_enterprise():
    return factories.EnterpriseFactory(name="别家公司")


@pytest.fixture
def stranger(other_enterprise):
    """A member of another enterprise, with an employee number no member here has."""
    return factories.MemberFactory(enterprise=other_enterprise, employee_number="X900")


def row(member=None, *, number=None, day="2026-12-31", reason="合同到期", external_id="HR-1"):
    return {
        "employee_number": number if number is not None else member.employee_number,
        "last_working_day": day,
        "reason": reason,
        "external_id": external_id,
    }


def receive(enterprise, rows, **kwargs):
    kwargs.setdefault("source", TerminationSource.API)
    return hr_sync.receive(enterprise, rows, **kwargs)


# ---------------------------------------------------------------------------------------------
# receive


def test_receiving_clean_rows_stores_them_pending_with_an_audit_event(
    enterprise, leaver, another_leaver
):
    result = receive(enterprise, [row(leaver), row(another_leaver, external_id="HR-2")])

    assert result.applied and not result.has_errors
    terminations = HRTermination.objects.order_by("external_id")
    assert [(t.external_id, t.member, t.state) for t in terminations] == [
        ("HR-1", leaver, TerminationState.PENDING),
        ("HR-2", another_leaver, TerminationState.PENDING),
    ]
    assert terminations[0].last_working_day == date(2026, 12, 31)
    assert [r.termination.pk for r in result.rows] == [t.pk for t in terminations]
    assert AuditEvent.objects.filter(action="hr_termination_received").count() == 2


def test_sending_the_same_termination_twice_receives_it_once(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    again = receive(enterprise, [row(leaver)])

    assert again.applied and not again.has_errors
    assert [r.status for r in again.rows] == [hr_sync.ALREADY_RECEIVED]
    assert HRTermination.objects.count() == 1


def test_a_changed_termination_under_a_known_external_id_is_a_row_error(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    changed = receive(enterprise, [row(leaver, day="2027-01-15")])

    assert not changed.applied
    assert "last_working_day" in changed.rows[0].messages[0]
    assert HRTermination.objects.get().last_working_day == date(2026, 12, 31)


def test_one_bad_row_refuses_every_row(enterprise, leaver, another_leaver):
    result = receive(
        enterprise,
        [
            row(leaver),
            row(another_leaver, day="2026-02-30", external_id="HR-2"),  # no such day
            row(number="E999", external_id="HR-3"),  # no such member
            row(leaver, external_id=""),  # no external id
        ],
    )

    assert not result.applied
    assert [r.index for r in result.invalid] == [1, 2, 3]
    assert set(result.rows[1].errors) == {"last_working_day"}
    assert set(result.rows[2].errors) == {"employee_number"}
    assert "external_id" in result.rows[3].errors
    assert not HRTermination.objects.exists()
    assert not AuditEvent.objects.filter(action="hr_termination_received").exists()


def test_another_enterprises_employee_number_is_a_row_error(enterprise, leaver, stranger):
    result = receive(enterprise, [row(stranger)])

    assert not result.applied
    assert result.rows[0].errors["employee_number"] == [
        "No member of this enterprise has the employee number “X900”."
    ]
    assert not HRTermination.objects.exists()


def test_a_departed_member_cannot_be_terminated(enterprise, leaver):
    leaver.status = MemberStatus.DEPARTED
    leaver.save()
    result = receive(enterprise, [row(leaver)])
    assert "only an active member" in result.rows[0].errors["employee_number"][0]


def test_unknown_fields_and_wrong_types_are_row_errors(enterprise, leaver):
    result = receive(
        enterprise,
        [
            {**row(leaver), "employeeNumber": "E100"},
            {**row(leaver, external_id="HR-2"), "last_working_day": 20261231},
            "not an object",
        ],
    )
    assert len(result.invalid) == 3
    assert "employeeNumber" in result.rows[0].errors["__all__"][0]
    assert "YYYY-MM-DD" in result.rows[1].errors["last_working_day"][0]


# ---------------------------------------------------------------------------------------------
# sync_pending


def test_sync_turns_pending_terminations_into_hr_sync_exits(enterprise, leaver, another_leaver):
    receive(enterprise, [row(leaver), row(another_leaver, external_id="HR-2")])

    totals = hr_sync.sync_pending()

    assert totals == {"synced": 2, "failed": 0}
    for termination in HRTermination.objects.select_related("exit_case"):
        assert termination.state == TerminationState.SYNCED
        exit_case = termination.exit_case
        assert exit_case.kind == ExitKind.HR_SYNC and exit_case.state == ExitState.DRAFT
        assert exit_case.member == termination.member
        assert exit_case.reason == "合同到期" and exit_case.requested_by is None
    run = JobRun.objects.get(job=hr_sync.JOB, status=JobStatus.SUCCEEDED)
    assert run.counts == {str(enterprise.pk): {"synced": 2}}


def test_sync_run_twice_opens_each_exit_once(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    hr_sync.sync_pending()

    assert hr_sync.sync_pending() == {"synced": 0, "failed": 0}
    assert Exit.objects.filter(member=leaver).count() == 1


def test_the_same_file_twice_makes_one_exit(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    hr_sync.sync_pending()
    receive(enterprise, [row(leaver)])
    hr_sync.sync_pending()

    assert HRTermination.objects.count() == 1
    assert Exit.objects.filter(member=leaver, kind=ExitKind.HR_SYNC).count() == 1


def test_a_member_with_an_exit_in_progress_fails_with_the_reason(enterprise, leaver, open_exit_for):
    existing = open_exit_for(leaver)
    receive(enterprise, [row(leaver)])

    assert hr_sync.sync_pending() == {"synced": 0, "failed": 1}
    termination = HRTermination.objects.get()
    assert termination.state == TerminationState.FAILED
    assert "already has an exit in progress" in termination.error
    assert termination.exit_case is None
    assert Exit.objects.filter(member=leaver).get() == existing
    assert AuditEvent.objects.filter(action="hr_termination_failed").count() == 1


def test_a_member_who_left_since_fails_with_the_reason(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    leaver.status = MemberStatus.FROZEN
    leaver.save()

    hr_sync.sync_pending()

    termination = HRTermination.objects.get()
    assert termination.state == TerminationState.FAILED
    assert "only an active member" in termination.error


def test_sync_works_in_bounded_batches(enterprise):
    members = [factories.MemberFactory(enterprise=enterprise) for _ in range(5)]
    receive(enterprise, [row(m, external_id=f"HR-{i}") for i, m in enumerate(members)])

    assert hr_sync.sync_pending(batch_size=2) == {"synced": 5, "failed": 0}
    assert Exit.objects.filter(kind=ExitKind.HR_SYNC).count() == 5


def test_sync_skips_while_another_run_holds_the_lease(enterprise, leaver):
    receive(enterprise, [row(leaver)])
    with job_run(hr_sync.JOB) as run:
        assert run is not None
        assert hr_sync.sync_pending() is None
    assert HRTermination.objects.get().state == TerminationState.PENDING


# ---------------------------------------------------------------------------------------------
# The CSV import in the admin


def csv_file(*lines: str, name="terminations.csv") -> SimpleUploadedFile:
    text = "\n".join(["employee_number,last_working_day,reason,external_id", *lines]) + "\n"
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def upload(client, enterprise, file):
    return client.post(
        IMPORT_URL, {"enterprise": enterprise.pk, "format": "0", "import_file": file}
    )


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(CONFIRM_URL, {name: form.initial[name] for name in form.initial})


def test_hr_previews_then_confirms_a_clean_file(
    hr_client, hr_user, enterprise, leaver, another_leaver
):
    # given a clean file
    preview = upload(
        hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1", "E200,2027-01-31,,HR-2")
    )
    # then the preview shows both rows as new, and nothing is written yet
    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    assert preview.context["result"].totals["new"] == 2
    assert "Content-Security-Policy" in preview.headers
    assert "style=" not in preview.content.decode()
    assert not HRTermination.objects.exists()
    # when HR confirms
    done = confirm(hr_client, preview)
    # then both are received, from the CSV, by HR
    assert done.status_code == 302
    assert done.url == reverse("admin:offboarding_hrtermination_changelist")
    terminations = HRTermination.objects.order_by("external_id")
    assert [(t.external_id, t.source, t.received_by) for t in terminations] == [
        ("HR-1", TerminationSource.CSV, hr_user),
        ("HR-2", TerminationSource.CSV, hr_user),
    ]


def test_a_file_with_bad_rows_lists_them_by_line_and_applies_nothing(
    hr_client, enterprise, leaver, stranger
):
    preview = upload(
        hr_client,
        enterprise,
        csv_file(
            "E100,2026-12-31,合同到期,HR-1",
            "X900,2026-12-31,,HR-2",  # line 3: another enterprise's employee
            "E100,31/12/2026,,HR-3",  # line 4: not a date (and E100 twice)
        ),
    )

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    invalid = preview.context["result"].invalid_rows
    assert [r.number for r in invalid] == [3, 4]
    page = preview.content.decode()
    assert "No member of this enterprise has the employee number “X900”." in page
    assert "YYYY-MM-DD" in page
    assert "Confirm import" not in page
    assert not HRTermination.objects.exists()


def test_the_confirm_refuses_a_file_with_errors_even_when_posted(hr_client, enterprise, leaver):
    preview = upload(hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1"))
    # the data changes between preview and confirm: the member leaves
    leaver.status = MemberStatus.DEPARTED
    leaver.save()

    done = confirm(hr_client, preview)

    assert done.status_code == 200
    assert [r.number for r in done.context["result"].invalid_rows] == [2]
    assert "Nothing was imported" in done.content.decode()
    assert not HRTermination.objects.exists()


def test_a_confirm_is_taken_once_and_only_for_a_previewed_file(hr_client, enterprise, leaver):
    preview = upload(hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1"))
    confirm(hr_client, preview)
    again = confirm(hr_client, preview)
    forged = hr_client.post(
        CONFIRM_URL,
        {
            "import_file_name": "passwd",
            "original_file_name": "x.csv",
            "format": "0",
            "enterprise": enterprise.pk,
        },
    )

    assert again.status_code == 302 and again.url == IMPORT_URL
    assert forged.status_code == 302 and forged.url == IMPORT_URL
    assert HRTermination.objects.count() == 1


def test_the_same_file_imported_twice_makes_one_termination_and_one_exit(
    hr_client, enterprise, leaver
):
    for _ in range(2):
        preview = upload(hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1"))
        confirm(hr_client, preview)
        hr_sync.sync_pending()

    assert HRTermination.objects.count() == 1
    assert Exit.objects.filter(member=leaver).count() == 1
    assert preview.context["result"].totals["skip"] == 1  # the second preview: already received


def test_a_file_without_the_columns_is_refused_as_a_whole(hr_client, enterprise, leaver):
    file = SimpleUploadedFile("t.csv", b"number,day\nE100,2026-12-31\n")
    preview = upload(hr_client, enterprise, file)
    assert preview.context.get("confirm_form") is None
    assert "The file has no column" in preview.content.decode()


def test_it_staff_may_not_import(client, it_user, enterprise, leaver):
    client.force_login(it_user)
    assert client.get(IMPORT_URL).status_code == 403
    assert upload(client, enterprise, csv_file("E100,2026-12-31,,HR-1")).status_code == 403
    assert client.post(CONFIRM_URL, {}).status_code == 403
    assert not HRTermination.objects.exists()


def test_another_enterprises_hr_may_not_import_here(client, enterprise, leaver, other_enterprise):
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise=other_enterprise, role=StaffRole.HR
    )
    client.force_login(other_hr)

    page = client.get(IMPORT_URL)
    assert page.status_code == 200
    assert list(page.context["form"].fields["enterprise"].queryset) == [other_enterprise]
    refused = upload(client, enterprise, csv_file("E100,2026-12-31,,HR-1"))
    assert refused.status_code == 200
    assert "enterprise" in refused.context["form"].errors
    assert refused.context.get("result") is None
    # and into their own enterprise, this enterprise's employee number is unknown
    own = upload(client, other_enterprise, csv_file("E100,2026-12-31,,HR-1"))
    assert [r.number for r in own.context["result"].invalid_rows] == [2]
    assert not HRTermination.objects.exists()


def test_the_confirm_refuses_an_enterprise_the_user_is_not_hr_of(
    client, enterprise, leaver, other_enterprise
):
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise=other_enterprise, role=StaffRole.HR
    )
    client.force_login(other_hr)
    factories.MemberFactory(enterprise=other_enterprise, employee_number="E100")
    preview = upload(client, other_enterprise, csv_file("E100,2026-12-31,,HR-1"))
    form = preview.context["confirm_form"]

    forged = client.post(CONFIRM_URL, {**form.initial, "enterprise": enterprise.pk})

    assert forged.status_code == 200
    assert "enterprise" in forged.context["confirm_form"].errors
    assert not HRTermination.objects.exists()


def test_terminations_list_only_the_users_enterprises(client, enterprise, leaver, other_enterprise):
    receive(enterprise, [row(leaver)])
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise=other_enterprise, role=StaffRole.HR
    )
    client.force_login(other_hr)
    listing = client.get(reverse("admin:offboarding_hrtermination_changelist"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []
    termination = HRTermination.objects.get()
    page = client.get(reverse("admin:offboarding_hrtermination_change", args=[termination.pk]))
    assert page.status_code == 302  # the admin's "does not exist" redirect


# ---------------------------------------------------------------------------------------------
# The import's bounds: the upload's size, and no previewed file left behind


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    """The system's temporary folder, for this test alone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def previews_in_cache() -> list[str]:
    """The previewed files waiting in the (in-process) cache."""
    return [key for key in cache._cache if PreviewedFileStorage.PREFIX in key]


def test_the_import_page_says_how_large_a_file_may_be(hr_client, enterprise):
    page = hr_client.get(IMPORT_URL)

    assert "The file can be at most 2.0\xa0MB" in page.content.decode()
    assert str(page.context["form"].fields["import_file"].help_text) == "At most 2.0\xa0MB."


def test_a_file_over_the_limit_is_refused_on_the_form(
    hr_client, enterprise, leaver, settings, temp_folder
):
    settings.HR_IMPORT_MAX_UPLOAD_SIZE = 1024
    file = csv_file(*[f"E100,2026-12-31,合同到期 {i},HR-{i}" for i in range(60)])
    size = filesizeformat(file.size)

    response = upload(hr_client, enterprise, file)

    assert response.status_code == 200
    assert response.context["form"].errors["import_file"] == [
        f"This file is {size}; the import takes at most 1.0\xa0KB: split it."
    ]
    assert response.context.get("confirm_form") is None
    assert not HRTermination.objects.exists()
    assert list(temp_folder.iterdir()) == [] and previews_in_cache() == []


def test_a_previewed_file_waits_in_the_cache_and_is_removed_at_the_confirm(
    hr_client, enterprise, leaver, temp_folder
):
    preview = upload(hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1"))
    stored = PreviewedFileStorage(name=preview.context["confirm_form"].initial["import_file_name"])
    # the file is not in the system's temporary folder, but waits in the cache
    assert list(temp_folder.iterdir()) == []
    assert stored.read()

    assert confirm(hr_client, preview).status_code == 302

    assert HRTermination.objects.count() == 1
    with pytest.raises(FileNotFoundError):
        stored.read()
    assert previews_in_cache() == []


def test_a_preview_with_errors_keeps_no_file(hr_client, enterprise, leaver, temp_folder):
    preview = upload(hr_client, enterprise, csv_file("X900,2026-12-31,,HR-1"))

    assert preview.context.get("confirm_form") is None
    assert list(temp_folder.iterdir()) == [] and previews_in_cache() == []


def test_an_unconfirmed_preview_is_gone_after_an_hour(hr_client, enterprise, leaver, settings):
    settings.STAFF_SESSION_IDLE_TIMEOUT = timedelta(days=1)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        preview = upload(hr_client, enterprise, csv_file("E100,2026-12-31,合同到期,HR-1"))
        traveller.shift(settings.HR_IMPORT_PREVIEW_TIMEOUT + timedelta(seconds=1))

        response = confirm(hr_client, preview)

        assert response.status_code == 302 and response.url == IMPORT_URL
        page = hr_client.get(response.url).content.decode()
        assert "The previewed file is gone: upload it again." in page
        assert not HRTermination.objects.exists()
