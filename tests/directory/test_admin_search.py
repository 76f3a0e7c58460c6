"""The admin's search box (directory/admin_search.py): the rows of Django's own search, found
table by table when the search fields span several tables; every word must match; `%` and `_`
are the characters typed."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from compliance.models import WorkRecord
from directory.admin_search import IndexedSearchMixin, lookups_by_table
from directory.models import ExternalContact, Member
from tests import factories

pytestmark = pytest.mark.django_db


def found(client, model, q: str) -> set[str]:
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": q})
    assert response.status_code == 200
    return {str(row) for row in response.context["cl"].result_list}


@pytest.fixture
def people(enterprise):
    sales = factories.DepartmentFactory(enterprise=enterprise, name="华东销售部")
    rd = factories.DepartmentFactory(enterprise=enterprise, name="研发部")

    def member(name, number, department, title="", username=None):
        user = factories.UserFactory(username=username or f"user-{number.lower()}")
        return factories.MemberFactory(
            enterprise=enterprise,
            user=user,
            name=name,
            employee_number=number,
            department=department,
            title=title,
        )

    return {
        "wang": member("王秀英", "E000101", sales, "销售经理"),
        "li": member("李伟", "E000102", rd, "工程师", username="liwei_rd"),
        "zhang": member("张伟", "E000103", sales, "100%达成"),
    }


def test_a_member_is_found_by_name_number_login_department_or_title(hr_client, people):
    assert found(hr_client, Member, "秀英") == {"王秀英 (E000101)"}
    assert found(hr_client, Member, "e000102") == {"李伟 (E000102)"}
    assert found(hr_client, Member, "LIWEI_RD") == {"李伟 (E000102)"}
    assert found(hr_client, Member, "华东销售") == {"王秀英 (E000101)", "张伟 (E000103)"}
    assert found(hr_client, Member, "工程师") == {"李伟 (E000102)"}


def test_every_word_must_match_somewhere(hr_client, people):
    assert found(hr_client, Member, "销售 伟") == {"张伟 (E000103)"}
    assert found(hr_client, Member, "销售 研发") == set()
    assert found(hr_client, Member, '"销售经理"') == {"王秀英 (E000101)"}


def test_percent_and_underscore_are_literal(hr_client, people):
    assert found(hr_client, Member, "100%") == {"张伟 (E000103)"}
    assert found(hr_client, Member, "%") == {"张伟 (E000103)"}
    assert found(hr_client, Member, "_rd") == {"李伟 (E000102)"}
    assert found(hr_client, Member, "E_0") == set()


def test_a_contact_is_found_by_its_name_company_or_owner(hr_client, people, enterprise):
    def contact(name, company, owner):
        return factories.ExternalContactFactory(
            enterprise=enterprise, owner=owner, name=name, company=company
        )

    contact("赵客户", "杭州恒信科技有限公司", people["wang"])
    contact("钱客户", "上海华泰", people["li"])

    assert found(hr_client, ExternalContact, "恒信") == {"赵客户"}
    assert found(hr_client, ExternalContact, "李伟") == {"钱客户"}
    assert found(hr_client, ExternalContact, "E000101") == {"赵客户"}
    assert found(hr_client, ExternalContact, "客户 上海") == {"钱客户"}


@pytest.mark.parametrize("term", ["伟", "销售", "e0001", "E000103", "user-", "100% 张", '"李 伟"'])
def test_the_rows_found_are_those_of_djangos_own_search(people, term):
    # given the members' admin, as a superuser sees it
    model_admin = admin.site._registry[Member]
    request = RequestFactory().get("/")
    request.user = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    queryset = model_admin.get_queryset(request)

    # when searched by this module and by Django's ModelAdmin
    ours, _ = model_admin.get_search_results(request, queryset, term)
    djangos, _ = super(IndexedSearchMixin, model_admin).get_search_results(request, queryset, term)

    # then the same rows
    assert set(ours.values_list("pk", flat=True)) == set(djangos.values_list("pk", flat=True))


def test_fields_on_one_table_keep_djangos_search():
    # a work record's owner's name and number: one table (the owner's), one OR of its indexes
    assert lookups_by_table(WorkRecord, ("owner__name", "=owner__employee_number")) == {
        "owner": ["owner__name__icontains", "owner__employee_number__iexact"]
    }
    # a member's own fields, its login and its department: three tables, three branches
    assert lookups_by_table(
        Member, ("name", "employee_number", "user__username", "department__name", "title")
    ) == {
        "": ["name__icontains", "employee_number__icontains", "title__icontains"],
        "user": ["user__username__icontains"],
        "department": ["department__name__icontains"],
    }
    # a field this module does not read (a lookup of its own): Django's search
    assert lookups_by_table(Member, ("name__startswith",)) is None
