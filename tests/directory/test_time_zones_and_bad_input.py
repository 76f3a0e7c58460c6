"""Times read in the enterprise's time zone, labelled; bad bytes answered 400, not 500."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def late_evening_exit(enterprise, open_exit_for):
    """An exit opened on 31 January at 20:00 UTC: already 1 February in Shanghai."""
    member = factories.MemberFactory(enterprise=enterprise, name="张三")
    with time_machine.travel(datetime(2026, 1, 31, 20, 0, tzinfo=UTC), tick=False):
        return open_exit_for(member, kind="passive")


def test_the_exit_list_date_filter_counts_days_in_the_enterprises_time_zone(
    hr_client, late_evening_exit
):
    february = hr_client.get(
        reverse("admin:offboarding_exit_changelist"),
        {"created_at__year": 2026, "created_at__month": 2},
    )
    assert late_evening_exit in february.context["cl"].result_list
    january = hr_client.get(
        reverse("admin:offboarding_exit_changelist"),
        {"created_at__year": 2026, "created_at__month": 1},
    )
    assert late_evening_exit not in january.context["cl"].result_list


def test_every_admin_page_says_which_time_zone_its_times_are_in(hr_client, enterprise):
    for url in (reverse("admin:index"), reverse("admin:directory_member_changelist")):
        content = hr_client.get(url).content.decode()
        assert "Times in Asia/Shanghai" in content, url


def test_directory_lists_show_times_in_the_enterprises_time_zone(hr_client, enterprise):
    owner = factories.MemberFactory(enterprise=enterprise)
    with time_machine.travel(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), tick=False):
        factories.ExternalContactFactory(enterprise=enterprise, owner=owner, name="客户甲")
    content = hr_client.get(reverse("admin:directory_externalcontact_changelist")).content
    # 23:30 UTC is 07:30 the next morning in Shanghai
    assert "March 2, 2026, 7:30 a.m." in content.decode()


def test_staff_of_enterprises_in_different_zones_read_utc_and_are_told_so(client, enterprise):
    from directory.permissions import grant_access

    person = factories.StaffUserFactory(username="two-zones")
    grant_access(user=person, enterprise=enterprise, role="hr")
    berlin = factories.EnterpriseFactory(name="柏林分公司", time_zone="Europe/Berlin")
    grant_access(user=person, enterprise=berlin, role="hr")
    client.force_login(person)
    assert "Times in UTC" in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/directory/member/?status__exact=%00",
        "/admin/autocomplete/?app_label=directory&model_name=customergroup&field_name=owner"
        "&term=%00",
        "/admin/directory/member/?q=%00",
        "/approvals/?x=%00",
    ],
)
def test_a_nul_byte_in_the_query_is_a_bad_request(hr_client, enterprise, url):
    assert hr_client.get(url).status_code == 400


def test_a_nul_byte_in_a_form_is_a_bad_request(client, enterprise):
    member = factories.MemberFactory(enterprise=enterprise)
    client.force_login(member.user)
    response = client.post(reverse("offboarding:my_exit"), {"reason": "a\x00b"})
    assert response.status_code == 400
