"""Seeding the benchmark's enterprise, set-based where the tables are big.

Members, departments and what they own come from `seed_demo` (bulk inserts, history copied by the
database). The big tables are filled by the database itself from a series of numbers
(INSERT … SELECT over generate_series on PostgreSQL, a recursive series on SQLite), in chunks so
that a progress bar moves: external contacts (with their "+" history rows), work records, and the
records of one member with many. Audit events go through `audit.record_many` in batches: the
trail is a hash chain, each event hashed after the one before, so no SQL can write them and
`verify_audit` still holds.

Every row is a function of its number in the series: the same call builds the same rows, and the
records the retention run purges can be built again alone (`add_records(..., purgeable_only=True)`)
between runs.
"""

from io import StringIO

from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit
from compliance.demo import APPROVALS, CHAT_LINES, CITIES, COMPANIES, EXPENSES, FILE_NAMES, PLACES
from compliance.models import WorkRecord
from directory.models import Enterprise, ExternalContact, Member

CHUNK = 100_000  # rows per INSERT … SELECT: one step of the progress bar
EVENT_BATCH = 5_000
# Categories by the row's number modulo 100, as compliance.demo weighs them.
CATEGORY_BANDS = (
    ("chat", 45),
    ("file", 57),
    ("approval", 67),
    ("attendance", 90),
    ("expense", 100),
)
DAYS = 1095  # records are spread over three years
LINES_PER_CATEGORY = 8
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛")


def seed_members(name: str, members: int) -> Enterprise:
    """The enterprise and its members, departments and owned resources (`seed_demo`)."""
    call_command("seed_demo", members=members, enterprise=name, stdout=StringIO(), verbosity=0)
    return Enterprise.objects.get(name=name)


def _series(start: int, stop: int) -> tuple[str, list]:
    """A CTE `series(i)` of the numbers start…stop."""
    if connection.vendor == "postgresql":
        return "series(i) AS (SELECT generate_series(%s::bigint, %s::bigint))", [start, stop]
    return (
        "series(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM series WHERE i < %s)",
        [start, stop],
    )


def _moment(days: str, seconds: str) -> str:
    """SQL for the moment `days` days and `seconds` seconds before the parameter (now)."""
    if connection.vendor == "postgresql":
        return (
            f"(%s::timestamptz - make_interval(days => ({days})::int, "
            f"secs => ({seconds})::double precision))"
        )
    return (
        f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || ({days}) || ' days', "
        f"'-' || ({seconds}) || ' seconds')"
    )


def _inserted(cursor) -> int:
    """Rows the last statement inserted (SQLite's driver says -1 for a statement that begins
    with WITH)."""
    if cursor.rowcount >= 0:
        return cursor.rowcount
    cursor.execute("SELECT changes()")
    return cursor.fetchone()[0]


def _hash_joins(cursor) -> None:
    """PostgreSQL estimates a series filtered by a CASE at a handful of rows and would join it to
    the members in a nested loop (every row against every member): hash joins, in this
    transaction only. (On SQLite the CROSS JOINs keep the series as the outer loop.)"""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL enable_nestloop = off")


def _now_parameter():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _values(rows: list[tuple]) -> tuple[str, list]:
    """A VALUES list of the rows, as parameters."""
    width = len(rows[0])
    one = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([one] * len(rows)), [value for row in rows for value in row]


def _lines() -> list[tuple[str, int, str]]:
    """LINES_PER_CATEGORY contents per category: the demo's, with their blanks filled."""
    fill = {
        "colleague": "王伟",
        "version": "2.3.1",
        "days": 2,
        "hours": 3,
        "date": "2026-03-18",
        "city": CITIES[0],
        "company": COMPANIES[0],
        "amount": "268.50",
        "year": 2026,
        "month": 3,
        "quarter": 1,
        "day": 18,
        "minor": 2,
        "project": "星辰",
    }
    texts = {
        "chat": [line.format(**fill) for line in CHAT_LINES],
        "file": [name.format(**fill) for name in FILE_NAMES],
        "approval": [line.format(**fill) for line in APPROVALS],
        "attendance": [f"上班打卡 08:5{n} · {place}" for n, place in enumerate(PLACES * 2)],
        "expense": [line.format(**fill) for line in EXPENSES],
    }
    return [
        (category, k, lines[k % len(lines)])
        for category, lines in texts.items()
        for k in range(LINES_PER_CATEGORY)
    ]


def _owners(enterprise_id: int) -> tuple[str, list]:
    """A CTE `owners(k, id, region)`: the enterprise's members numbered 0, 1, … in id order."""
    member = connection.ops.quote_name(Member._meta.db_table)
    numbered = (
        "SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id, data_region "
        f"FROM {member} WHERE enterprise_id = %s"
    )
    if connection.vendor != "sqlite":
        return f"owners(k, id, region) AS ({numbered})", [enterprise_id]
    # SQLite without statistics (before ANALYZE) would scan every member for every row: the
    # members go into a temporary table keyed by their number instead.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS temp.bench_owners")
        cursor.execute("CREATE TEMP TABLE bench_owners (k INTEGER PRIMARY KEY, id, region)")
        cursor.execute(f"INSERT INTO temp.bench_owners {numbered}", [enterprise_id])
    return "owners(k, id, region) AS (SELECT k, id, region FROM temp.bench_owners)", []


def records_sql(enterprise, *, start: int, stop: int, per_member: int, purgeable_only=False):
    """INSERT … SELECT of the work records numbered start…stop: each member (in id order) has
    `per_member` consecutive numbers; the number gives the category (CATEGORY_BANDS), the age
    (spread over DAYS) and the content. `purgeable_only`: only the expenses older than 366 days
    (what a one-year purge of expenses deletes)."""
    members = Member.objects.filter(enterprise=enterprise).count()
    series, series_params = _series(start, stop)
    owners, owner_params = _owners(enterprise.pk)
    lines, line_params = _values(_lines())
    category = "CASE " + " ".join(
        f"WHEN i %% 100 < {bound} THEN '{name}'" for name, bound in CATEGORY_BANDS[:-1]
    )
    category += f" ELSE '{CATEGORY_BANDS[-1][0]}' END"
    table = connection.ops.quote_name(WorkRecord._meta.db_table)
    where = "AND made.category = 'expense' AND made.age > 366" if purgeable_only else ""
    sql = (
        f"WITH RECURSIVE {series}, {owners}, lines(category, k, text) AS (VALUES {lines}), "
        f"made AS (SELECT i, owners.id AS owner_id, owners.region AS region, "
        f"{category} AS category, (i * 37) %% {DAYS} AS age "
        f"FROM series CROSS JOIN owners WHERE owners.k = (i / %s) %% %s) "
        f"INSERT INTO {table} (enterprise_id, owner_id, owner_pseudonym, category, "
        f"document_type, created_at, data_region, content) "
        f"SELECT %s, made.owner_id, '', made.category, '', "
        f"{_moment('made.age', '(made.i * 131) %% 36000')}, made.region, "
        f"lines.text || ' #' || CAST(made.i AS TEXT) "
        f"FROM made CROSS JOIN lines WHERE lines.category = made.category "
        f"AND lines.k = made.i %% {LINES_PER_CATEGORY} {where}"
    )
    params = [
        *series_params,
        *owner_params,
        *line_params,
        per_member,
        members,
        enterprise.pk,
        _now_parameter(),
    ]
    return sql, params


def add_records(enterprise, *, per_member: int, bar=None, purgeable_only=False) -> int:
    """Every member's `per_member` work records (or only the purgeable ones again)."""
    total = Member.objects.filter(enterprise=enterprise).count() * per_member
    added = 0
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total) - 1
        sql, params = records_sql(
            enterprise,
            start=start,
            stop=stop,
            per_member=per_member,
            purgeable_only=purgeable_only,
        )
        with transaction.atomic(), connection.cursor() as cursor:
            _hash_joins(cursor)
            cursor.execute(sql, params)
            added += _inserted(cursor)
        if bar is not None:
            bar.update(stop - start + 1)
    return added


def member_content_sql() -> str:
    """The content of the heavy member's records, from their id: set again between sealing runs
    (sealing empties it)."""
    return "'聊天记录 ' || CAST(id AS TEXT) || '：客户那边刚回复了，报价单需要再改一版。'"


def add_member_records(member, count: int, bar=None) -> int:
    """`count` recent chat records of one member (what closing their exit seals)."""
    table = connection.ops.quote_name(WorkRecord._meta.db_table)
    added = 0
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count) - 1
        series, params = _series(start, stop)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"WITH RECURSIVE {series} INSERT INTO {table} (enterprise_id, owner_id, "
                "owner_pseudonym, category, document_type, created_at, data_region, content) "
                f"SELECT %s, %s, '', 'chat', '', {_moment('(i * 7) %% 180', 'i %% 36000')}, "
                "%s, '' FROM series",
                [*params, member.enterprise_id, member.pk, _now_parameter(), member.data_region],
            )
            added += _inserted(cursor)
        if bar is not None:
            bar.update(stop - start + 1)
    unseal_member_records(member)
    return added


def unseal_member_records(member) -> None:
    """Put the member's records back as they were before sealing (the content, no seal)."""
    table = connection.ops.quote_name(WorkRecord._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET content = {member_content_sql()}, sealed_content = NULL, "
            "sealed_at = NULL WHERE owner_id = %s",
            [member.pk],
        )


def add_contacts(enterprise, *, total: int, bar=None) -> int:
    """External contacts up to `total` in the enterprise (seed_demo made some), spread over its
    members, each with its "+" history row."""
    existing = ExternalContact.objects.filter(enterprise=enterprise).count()
    missing = max(0, total - existing)
    names = [
        (k, SURNAMES[k % len(SURNAMES)] + GIVEN_NAMES[k % len(GIVEN_NAMES)]) for k in range(60)
    ]
    names_sql, name_params = _values(names)
    companies_sql, company_params = _values(list(enumerate(COMPANIES)))
    table = connection.ops.quote_name(ExternalContact._meta.db_table)
    members = Member.objects.filter(enterprise=enterprise).count()
    added = 0
    for start in range(0, missing, CHUNK):
        stop = min(start + CHUNK, missing) - 1
        series, series_params = _series(start, stop)
        owners, owner_params = _owners(enterprise.pk)
        with transaction.atomic(), connection.cursor() as cursor:
            last_id = ExternalContact.objects.order_by("-pk").values_list("pk", flat=True).first()
            _hash_joins(cursor)
            cursor.execute(
                f"WITH RECURSIVE {series}, {owners}, names(k, text) AS (VALUES {names_sql}), "
                f"companies(k, text) AS (VALUES {companies_sql}) "
                f"INSERT INTO {table} (enterprise_id, owner_id, name, created_at, company, phone) "
                "SELECT %s, owners.id, names.text || ' ' || CAST(i AS TEXT), %s, companies.text, "
                "'+86 138 ' || CAST(10000000 + i AS TEXT) "
                "FROM series CROSS JOIN owners CROSS JOIN names CROSS JOIN companies "
                "WHERE owners.k = i %% %s AND names.k = i %% 60 "
                "AND companies.k = (i / 60) %% %s",
                [
                    *series_params,
                    *owner_params,
                    *name_params,
                    *company_params,
                    enterprise.pk,
                    _now_parameter(),
                    members,
                    len(COMPANIES),
                ],
            )
            added += _inserted(cursor)
            copy_history(ExternalContact, enterprise.pk, after_id=last_id or 0)
        if bar is not None:
            bar.update(stop - start + 1)
    return added


def copy_history(model, enterprise_id: int, *, after_id: int) -> None:
    """The "+" history rows of the enterprise's rows of `model` after `after_id`, copied by the
    database (as directory.demo.seeder.write_created_history does for ids it is given)."""
    history = model.history.model
    quote = connection.ops.quote_name
    tracked = list(history.tracked_fields)
    targets = [history._meta.get_field(f.name).column for f in tracked]
    targets += ["history_date", "history_change_reason", "history_type", "history_user_id"]
    sources = [quote(f.column) for f in tracked] + ["%s", "%s", "'+'", "NULL"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, targets))}) "
            f"SELECT {', '.join(sources)} FROM {quote(model._meta.db_table)} "
            "WHERE enterprise_id = %s AND id > %s",
            [_now_parameter(), "seed_demo", enterprise_id, after_id],
        )


def add_audit_events(enterprise, *, count: int, member, actor, bar=None) -> int:
    """`count` audit events on the enterprise's chain, through `audit.record_many` in batches:
    every tenth carries personal data (sealed with the member's key)."""
    added = 0
    for start in range(0, count, EVENT_BATCH):
        stop = min(start + EVENT_BATCH, count)
        audit.record_many(
            enterprise.pk,
            [
                audit.Event(
                    action="bench_event",
                    object_type="member",
                    object_id=member.pk,
                    member_id=member.pk,
                    data={"n": n, "note": "基准"},
                    personal={"name": member.name} if n % 10 == 0 else None,
                )
                for n in range(start, stop)
            ],
            actor=actor,
        )
        added += stop - start
        if bar is not None:
            bar.update(stop - start)
    return added
