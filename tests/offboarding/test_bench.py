"""`manage.py bench` (make bench) measures every row of the table and writes it as JSON."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from compliance import audit
from directory.models import Enterprise

# Concurrency needs committed data that other processes see: the test commits, like the bench.
pytestmark = pytest.mark.django_db(transaction=True)

ROWS = (
    "signoffs.1_processes_one_enterprise",
    "signoffs.4_processes_one_enterprise",
    "signoffs.16_processes_one_enterprise",
    "signoffs.4_processes_4_enterprises",
    "sealing",
    "verify_audit",
    "close",
    "close.door_waits",
    "retention.fresh",
    "retention.analyzed",
    "admin.members",
    "admin.exits",
    "admin.inheritance_items",
    "admin.audit_events",
    "admin.audit_events_page_1000",
    "admin.work_records",
    "admin.external_contacts",
    "admin.member_search",
    "admin.contact_search",
    "approvals.hr",
    "hand_over",
    "import.preview",
    "import.confirm",
)
DOOR_ROWS_ON_POSTGRESQL = ("door.during_retention.p50", "door.during_retention.max")


def test_the_benchmark_writes_every_row_of_its_table_as_json(tmp_path):
    # when the benchmark runs at a tiny size in the test database
    out, err = StringIO(), StringIO()
    path = tmp_path / "bench.json"
    call_command(
        "bench",
        "--current-database",
        members=40,
        records=2,
        contacts=2,
        events=200,
        member_records=50,
        signoffs=5,
        runs=1,
        json=str(path),
        stdout=out,
        stderr=err,
    )
    # then the JSON holds every row, with its figure (or why there is none) and its limits
    table = json.loads(path.read_text())
    rows = {row["key"]: row for row in table["rows"]}
    expected = ROWS + (
        DOOR_ROWS_ON_POSTGRESQL if connection.vendor == "postgresql" else ("door.during_retention",)
    )
    assert set(expected) <= set(rows)
    for key in expected:
        row = rows[key]
        assert row["value"] is not None or row["unavailable"] == "PostgreSQL only", key
    assert {limit["what"] for limit in rows["sealing"]["limits"]} == {
        "crypto.seal alone",
        "AES-GCM, one reused AESGCM object",
    }
    assert rows["sealing"]["met"] in (True, False)
    assert [limit["what"].split()[0] for limit in rows["verify_audit"]["limits"]] == [
        "SHA-256",
        "HMAC-SHA256",
    ]
    assert rows["admin.inheritance_items"]["queries"] > 0
    assert table["machine"]["cpus"] and table["machine"]["database"]
    # and the table went to stdout, beside the machine's description, without log lines
    printed = out.getvalue()
    assert "Machine:" in printed and "verify_audit" in printed
    assert "request_finished" not in printed
    # and the audit trail it wrote still verifies (events through the chain, not raw SQL)
    enterprise = Enterprise.objects.get(name="基准测试企业")
    assert audit.verify(enterprise.pk)[0].whole
