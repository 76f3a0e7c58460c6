"""Every admin search over a big table reads a trigram index on PostgreSQL (directory/trigram.py,
directory/admin_search.py): each search field of such a table has a GIN `gin_trgm_ops` index on
`UPPER(col)` — what Django's `icontains` and `iexact` compare — and the plan of the admin's own
search query reads it. Reading a whole table (or a whole index) is switched off to make the
planner's choice the same on a table of a few rows as on one of millions; the index still has to
be one it can use for the query."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory

from directory.admin_search import lookups_by_table
from directory.migration_ops import is_big
from tests import factories

# Searched as much as the big tables: an enterprise's external contacts and customer groups
# (hundreds of thousands in a large one) and the logins (one per member).
ALSO_BIG = {("directory", "externalcontact"), ("directory", "customergroup"), ("auth", "user")}
# The plans that may read every row of a few-row table: switched off, a filter must be looked up.
WHOLE_TABLE_READS = ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan")
# A word of three characters or more: pg_trgm has trigrams to look up.
WORD = "王秀英"


def searched_columns(model, search_fields) -> list[tuple[str, str]]:
    """(table, column) of each search field on a big table."""
    columns = []
    for spec in map(str, search_fields):
        opts = model._meta
        *path, name = spec.lstrip("^=@").split("__")
        for part in path:
            opts = opts.get_field(part).related_model._meta
        key = (opts.app_label, opts.model_name)
        if is_big(*key) or key in ALSO_BIG:
            columns.append((opts.db_table, opts.get_field(name).column))
    return columns


def searches_over_big_tables() -> list:
    return [
        pytest.param(model, id=model._meta.label)
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields and searched_columns(model, model_admin.search_fields)
    ]


def trigram_index(table: str, column: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, f"%USING gin (upper(({column})::text) gin_trgm_ops)"],
        )
        row = cursor.fetchone()
    return row and row[0]


@pytest.fixture
def superuser_request(db):
    request = RequestFactory().get("/", {"q": WORD})
    request.user = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    return request


@pytest.mark.usefixtures("postgresql")
@pytest.mark.parametrize("model", searches_over_big_tables())
def test_the_admin_search_reads_a_trigram_index_for_each_big_field(model, superuser_request):
    # given the admin's search of `model` for a word, as its list runs it
    model_admin = admin.site._registry[model]
    changelist = model_admin.get_changelist_instance(superuser_request)
    columns = searched_columns(model, model_admin.search_fields)
    indexes = {column: trigram_index(*column) for column in columns}
    assert None not in indexes.values(), f"searched without a trigram index: {indexes}"

    # when the planner may not read a whole table (nor a whole index, filtering its rows)
    with connection.cursor() as cursor:
        for setting in WHOLE_TABLE_READS:
            cursor.execute(f"SET {setting} = off")
    try:
        plan = changelist.queryset.explain()
    finally:
        with connection.cursor() as cursor:
            for setting in WHOLE_TABLE_READS:
                cursor.execute(f"RESET {setting}")

    # then every searched column is looked up in its trigram index
    assert [index for index in indexes.values() if index not in plan] == [], plan


def test_the_big_tables_searched_are_the_ones_expected():
    """A new search field over a big table lands in the test above (and needs its index)."""
    searched = {
        column
        for model, model_admin in admin.site._registry.items()
        for column in searched_columns(model, model_admin.search_fields or ())
    }
    assert searched == {
        ("auth_user", "email"),
        ("auth_user", "first_name"),
        ("auth_user", "last_name"),
        ("auth_user", "username"),
        ("compliance_auditevent", "action"),
        ("compliance_auditevent", "object_type"),
        ("directory_customergroup", "name"),
        ("directory_externalcontact", "company"),
        ("directory_externalcontact", "name"),
        ("directory_jobrun", "job"),
        ("directory_member", "employee_number"),
        ("directory_member", "name"),
        ("directory_member", "title"),
        ("offboarding_notification", "subject"),
    }


@pytest.mark.usefixtures("postgresql")
def test_multi_table_searches_go_table_by_table():
    """The members' search spans members, logins and departments: one branch per table, so each
    reads its own index (an OR across the join could only filter the joined rows)."""
    member_admin = admin.site._registry[get_user_model().member.related.related_model]
    groups = lookups_by_table(member_admin.model, member_admin.search_fields)

    assert set(groups) == {"", "user", "department"}
