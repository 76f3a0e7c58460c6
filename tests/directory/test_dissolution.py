"""Departments left without anyone (D-2): the nightly marking (J-4) and HR's dissolving.

The tree of the enterprise here (示例科技, Asia/Shanghai):

    总部
    ├── 销售中心 (张三, active)
    │   └── 华东组
    └── 研发部
        └── 测试组
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from directory import dissolution, tasks
from directory.choices import DepartmentStatus, JobStatus, MemberStatus, StaffRole
from directory.jobs import JobFailed, job_run
from directory.models import Department, JobRun, Member, NightlyMark
from directory.services import DirectoryError
from tests import factories

pytestmark = pytest.mark.django_db

# 02:05 in Shanghai on 11 March 2026 (its night), and 12:05 the same day (its day).
NIGHT = datetime(2026, 3, 10, 18, 5, tzinfo=UTC)
DAY = datetime(2026, 3, 11, 4, 5, tzinfo=UTC)
NEXT_NIGHT = NIGHT + timedelta(days=1)


@pytest.fixture
def tree(enterprise):
    head_office = factories.DepartmentFactory(enterprise=enterprise, name="总部")
    sales = factories.DepartmentFactory(enterprise=enterprise, parent=head_office, name="销售中心")
    east = factories.DepartmentFactory(enterprise=enterprise, parent=sales, name="华东组")
    research = factories.DepartmentFactory(enterprise=enterprise, parent=head_office, name="研发部")
    testing = factories.DepartmentFactory(enterprise=enterprise, parent=research, name="测试组")
    seller = factories.MemberFactory(enterprise=enterprise, department=sales, name="张三")
    return {
        "总部": head_office,
        "销售中心": sales,
        "华东组": east,
        "研发部": research,
        "测试组": testing,
        "seller": seller,
    }


def statuses(enterprise) -> dict[str, str]:
    return dict(Department.objects.filter(enterprise=enterprise).values_list("name", "status"))


def run_at(moment):
    with time_machine.travel(moment, tick=False):
        return tasks.mark_pending_dissolution()


PENDING, ACTIVE, DISSOLVED = (
    DepartmentStatus.PENDING_DISSOLUTION,
    DepartmentStatus.ACTIVE,
    DepartmentStatus.DISSOLVED,
)


# ---------------------------------------------------------------------------------------------
# The nightly marking


def test_departments_whose_subtree_has_no_active_member_are_marked_at_the_enterprises_night(
    enterprise, tree
):
    # when the job runs at the enterprise's night
    assert run_at(NIGHT) == {"marked": 3, "unmarked": 0}
    # then every department with nobody in it or under it is pending, since tonight
    assert statuses(enterprise) == {
        "总部": ACTIVE,
        "销售中心": ACTIVE,
        "华东组": PENDING,
        "研发部": PENDING,
        "测试组": PENDING,
    }
    assert Department.objects.get(pk=tree["研发部"].pk).pending_since == NIGHT
    # with a history row saying why, written by the system
    latest = tree["华东组"].history.order_by("-history_id").first()
    assert latest.history_change_reason == "mark_pending_dissolution"
    assert latest.history_user is None
    assert latest.status == PENDING
    # and the run says what it did in the enterprise
    run = JobRun.objects.get(job="directory.mark_pending_dissolution")
    assert run.status == JobStatus.SUCCEEDED
    assert run.counts == {str(enterprise.pk): {"marked": 3, "unmarked": 0}}


def test_nothing_is_marked_outside_the_enterprises_night(enterprise, tree):
    assert run_at(DAY) == {"marked": 0, "unmarked": 0}
    assert set(statuses(enterprise).values()) == {ACTIVE}
    assert not NightlyMark.objects.filter(enterprise=enterprise).exists()


def test_the_job_takes_each_enterprise_once_a_night(enterprise, tree):
    run_at(NIGHT)
    # a department emptied later the same night waits for the next night
    Member.objects.filter(pk=tree["seller"].pk).update(status=MemberStatus.DEPARTED)
    assert run_at(NIGHT + timedelta(hours=1)) == {"marked": 0, "unmarked": 0}
    assert statuses(enterprise)["销售中心"] == ACTIVE
    # the next night it is marked, with the department above it
    assert run_at(NEXT_NIGHT) == {"marked": 2, "unmarked": 0}
    assert set(statuses(enterprise).values()) == {PENDING}
    # and those marked the first night keep the date they were first marked
    assert Department.objects.get(pk=tree["研发部"].pk).pending_since == NIGHT
    assert Department.objects.get(pk=tree["总部"].pk).pending_since == NEXT_NIGHT


def test_a_pending_department_that_gains_a_member_under_it_becomes_active_again(enterprise, tree):
    run_at(NIGHT)
    # given someone joins the testing group, under the research department
    factories.MemberFactory(enterprise=enterprise, department=tree["测试组"], name="新人")
    # when the job runs the next night
    assert run_at(NEXT_NIGHT) == {"marked": 0, "unmarked": 2}
    # then both are active again, with no date; the empty east group stays pending
    research = Department.objects.get(pk=tree["研发部"].pk)
    assert (research.status, research.pending_since) == (ACTIVE, None)
    assert statuses(enterprise)["测试组"] == ACTIVE
    assert statuses(enterprise)["华东组"] == PENDING
    assert research.history.order_by("-history_id").first().history_change_reason == (
        "mark_pending_dissolution"
    )


def test_members_who_left_do_not_keep_a_department_active(enterprise, tree):
    factories.MemberFactory(
        enterprise=enterprise, department=tree["测试组"], status=MemberStatus.DEPARTED
    )
    run_at(NIGHT)
    assert statuses(enterprise)["测试组"] == PENDING


def test_a_department_whose_only_member_is_frozen_is_not_pending_dissolution(enterprise, tree):
    # given the testing group's only member is frozen (a stolen account: still employed)
    factories.MemberFactory(
        enterprise=enterprise, department=tree["测试组"], status=MemberStatus.FROZEN
    )
    # when the nightly check runs
    run_at(NIGHT)
    # then 部门人数归零 counts them: the group and the department above it keep their status
    assert statuses(enterprise)["测试组"] == ACTIVE
    assert statuses(enterprise)["研发部"] == ACTIVE


def test_dissolving_is_refused_while_a_frozen_member_is_in_the_subtree(enterprise, tree, hr_user):
    run_at(NIGHT)
    # given a member of the testing group, frozen, moved there after the nightly check
    factories.MemberFactory(
        enterprise=enterprise, department=tree["测试组"], status=MemberStatus.FROZEN
    )
    with pytest.raises(DirectoryError) as refused:
        dissolution.dissolve(tree["研发部"], actor=hr_user)
    assert refused.value.messages == [
        "研发部 still has 1 member in it or under it who has not left: it cannot be dissolved."
    ]
    assert statuses(enterprise)["研发部"] == PENDING


def test_another_enterprise_at_another_night_is_untouched(enterprise, tree):
    berlin = factories.EnterpriseFactory(name="柏林分公司", time_zone="Europe/Berlin")
    empty = factories.DepartmentFactory(enterprise=berlin, name="空部门")
    run_at(NIGHT)  # 19:05 in Berlin
    assert Department.objects.get(pk=empty.pk).status == ACTIVE


def test_a_dissolved_department_is_never_made_active_again_by_the_job(enterprise, tree, hr_user):
    run_at(NIGHT)
    dissolution.dissolve(tree["华东组"], actor=hr_user)
    factories.MemberFactory(enterprise=enterprise, department=tree["华东组"], name="误入")
    run_at(NEXT_NIGHT)
    assert statuses(enterprise)["华东组"] == DISSOLVED


def test_a_second_concurrent_run_is_skipped(enterprise, tree):
    with job_run(dissolution.JOB) as first:
        assert first is not None
        assert run_at(NIGHT) is None
    assert set(statuses(enterprise).values()) == {ACTIVE}
    assert JobRun.objects.filter(job=dissolution.JOB, status=JobStatus.SKIPPED).count() == 1


def test_an_error_in_one_enterprise_is_recorded_and_the_others_go_on(enterprise, tree, monkeypatch):
    broken = factories.EnterpriseFactory(name="坏数据公司")
    real = dissolution.mark_enterprise

    def mark_enterprise(which, *, now):
        if which.pk == broken.pk:
            raise ValueError("the tree is broken")
        return real(which, now=now)

    monkeypatch.setattr(dissolution, "mark_enterprise", mark_enterprise)
    with pytest.raises(JobFailed):
        run_at(NIGHT)
    run = JobRun.objects.get(job=dissolution.JOB)
    assert run.status == JobStatus.FAILED
    assert run.errors == [{"enterprise": broken.pk, "error": "ValueError: the tree is broken"}]
    assert run.counts == {str(enterprise.pk): {"marked": 3, "unmarked": 0}}
    # the broken enterprise is tried again at its next hourly run of the night
    assert NightlyMark.objects.filter(enterprise=enterprise).exists()
    assert not NightlyMark.objects.filter(enterprise=broken).exists()


# ---------------------------------------------------------------------------------------------
# Dissolving: HR's decision


def test_hr_dissolves_a_pending_department_with_every_department_under_it(
    enterprise, tree, hr_user
):
    run_at(NIGHT)
    dissolution.dissolve(tree["研发部"], actor=hr_user)
    assert statuses(enterprise)["研发部"] == DISSOLVED
    assert statuses(enterprise)["测试组"] == DISSOLVED
    latest = tree["研发部"].history.order_by("-history_id").first()
    assert (latest.history_change_reason, latest.history_user) == ("dissolve", hr_user)


def test_dissolving_is_refused_while_someone_active_is_in_the_subtree(enterprise, tree, hr_user):
    run_at(NIGHT)
    # given someone joined the testing group since the nightly check
    factories.MemberFactory(enterprise=enterprise, department=tree["测试组"])
    with pytest.raises(DirectoryError) as refused:
        dissolution.dissolve(tree["研发部"], actor=hr_user)
    assert refused.value.messages == [
        "研发部 still has 1 member in it or under it who has not left: it cannot be dissolved."
    ]
    assert statuses(enterprise)["研发部"] == PENDING
    assert statuses(enterprise)["测试组"] == PENDING


def test_dissolving_an_active_department_is_refused(enterprise, tree, hr_user):
    with pytest.raises(DirectoryError) as refused:
        dissolution.dissolve(tree["研发部"], actor=hr_user)
    assert "研发部 is not pending dissolution" in refused.value.messages[0]
    assert statuses(enterprise)["研发部"] == ACTIVE


def test_dissolving_twice_is_refused(enterprise, tree, hr_user):
    run_at(NIGHT)
    dissolution.dissolve(tree["华东组"], actor=hr_user)
    with pytest.raises(DirectoryError, match="华东组 is dissolved already."):
        dissolution.dissolve(tree["华东组"], actor=hr_user)


def test_it_may_not_dissolve_and_neither_may_hr_of_another_enterprise(enterprise, tree, it_user):
    run_at(NIGHT)
    other_hr = factories.StaffFactory(enterprise__name="别家公司", role=StaffRole.HR)
    for actor in (it_user, other_hr, None):
        with pytest.raises(DirectoryError, match="not allowed to dissolve"):
            dissolution.dissolve(tree["华东组"], actor=actor)
    assert statuses(enterprise)["华东组"] == PENDING


# ---------------------------------------------------------------------------------------------
# The "Dissolve" button in the admin


def dissolve_url(department):
    return reverse("admin:directory_department_dissolve", args=[department.pk])


def test_a_pending_departments_page_shows_hr_the_dissolve_button(hr_client, tree):
    run_at(NIGHT)
    page = hr_client.get(reverse("admin:directory_department_change", args=[tree["研发部"].pk]))
    assert dissolve_url(tree["研发部"]) in page.content.decode()
    active = hr_client.get(reverse("admin:directory_department_change", args=[tree["总部"].pk]))
    assert 'id="dissolve-button"' not in active.content.decode()


def test_the_dissolve_button_asks_then_dissolves(hr_client, enterprise, tree):
    run_at(NIGHT)
    # GET asks
    page = hr_client.get(dissolve_url(tree["研发部"]))
    assert page.status_code == 200
    assert "Dissolve 研发部?" in page.content.decode()
    assert "The 1 department under it is dissolved with it." in page.content.decode()
    assert statuses(enterprise)["研发部"] == PENDING
    # POST does
    response = hr_client.post(dissolve_url(tree["研发部"]), follow=True)
    assert "研发部 is dissolved, with every department under it." in response.content.decode()
    assert statuses(enterprise)["研发部"] == DISSOLVED


def test_the_dissolve_button_refuses_with_members_and_says_why(hr_client, enterprise, tree):
    run_at(NIGHT)
    factories.MemberFactory(enterprise=enterprise, department=tree["测试组"])
    response = hr_client.post(dissolve_url(tree["研发部"]), follow=True)
    assert (
        "研发部 still has 1 member in it or under it who has not left" in response.content.decode()
    )
    assert statuses(enterprise)["研发部"] == PENDING


def test_the_status_is_not_edited_on_the_form(hr_client, enterprise, tree):
    url = reverse("admin:directory_department_change", args=[tree["研发部"].pk])
    hr_client.post(url, {"name": "研发部", "parent": tree["总部"].pk, "status": "dissolved"})
    assert statuses(enterprise)["研发部"] == ACTIVE


def test_the_dissolve_url_is_refused_to_it_and_hidden_from_another_enterprise(
    client, enterprise, tree, it_user
):
    run_at(NIGHT)
    client.force_login(it_user)
    assert client.get(dissolve_url(tree["研发部"])).status_code == 403
    assert client.post(dissolve_url(tree["研发部"])).status_code == 403
    client.force_login(factories.StaffFactory(enterprise__name="别家公司", role=StaffRole.HR))
    assert client.get(dissolve_url(tree["研发部"])).status_code == 404
    assert client.post(dissolve_url(tree["研发部"])).status_code == 404
    assert statuses(enterprise)["研发部"] == PENDING
