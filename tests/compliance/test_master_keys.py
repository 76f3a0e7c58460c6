"""Master keys an operator cannot get wrong: system checks (`check`, `check --deploy`) and a page
saying what is wrong (503) instead of a bare 500 when this server lacks the key that wrapped a
member's data key (compliance/checks.py, compliance/middleware.py)."""

import logging

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.db import OperationalError
from django.urls import reverse

from compliance import crypto, sealing
from compliance.models import AuditEvent, MemberDataKey, WorkRecord
from offboarding.choices import ExitState
from offboarding.models import GroupRobot
from tests import factories
from tests.compliance.conftest import records_of
from tests.offboarding.conftest import refreshed

pytestmark = pytest.mark.django_db

SEALED_TEXT = {
    "en": (
        "Sealed data cannot be read: the master key that wrapped it is not configured on this "
        "server. Tell your operator."
    ),
    "zh-hans": "无法读取封存的数据：本服务器未配置当初加密它的主密钥。请告知您的运维人员。",
}


@pytest.fixture(autouse=True)
def _forget_master_keys():
    crypto.forget_master()
    yield
    crypto.forget_master()


@pytest.fixture
def other_key():
    return Fernet.generate_key().decode()


def master_key_issues(*, deploy: bool) -> list[tuple[str, str]]:
    return [
        (message.id, message.msg)
        for message in run_checks(include_deployment_checks=deploy)
        if message.id and message.id.startswith("compliance.") and message.id != "compliance.E001"
    ]


# --- the system checks --------------------------------------------------------------------------


def test_the_checks_pass_with_the_key_that_wrapped_the_stored_keys(member):
    crypto.data_key(member.pk)
    assert master_key_issues(deploy=False) == []
    assert master_key_issues(deploy=True) == []


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ([], "EXITDESK_MASTER_KEYS is empty"),
        ([""], "EXITDESK_MASTER_KEYS is empty"),
        (["not-a-fernet-key"], "EXITDESK_MASTER_KEYS holds an invalid key"),
    ],
)
def test_an_empty_or_invalid_key_fails_every_check(settings, keys, said):
    settings.EXITDESK_MASTER_KEYS = keys
    for deploy in (False, True):
        ((check_id, message),) = master_key_issues(deploy=deploy)
        assert check_id == "compliance.E002"
        assert message.startswith(said)


def test_a_key_that_does_not_unwrap_the_stored_keys_fails_check_deploy(settings, member, other_key):
    crypto.data_key(member.pk)  # wrapped by the development key
    development_key = settings.EXITDESK_MASTER_KEYS[0]
    settings.EXITDESK_MASTER_KEYS = [other_key]
    # plain `check` reads no database; `check --deploy` tries a stored key
    assert master_key_issues(deploy=False) == []
    ((check_id, message),) = master_key_issues(deploy=True)
    assert check_id == "compliance.E003"
    assert "does not unwrap with EXITDESK_MASTER_KEYS" in message
    assert "Put it back (after the newest key)" in message
    # the new key first and the old one after it: passes
    settings.EXITDESK_MASTER_KEYS = [other_key, development_key]
    assert master_key_issues(deploy=True) == []


def test_the_oldest_stored_key_is_tried_too(settings, member, enterprise, other_key):
    # given a key wrapped by the old key, and a newer one wrapped by the new key (every process
    # ran with new,old), the old key then removed before rotate_master_key ran
    crypto.data_key(member.pk)
    development_key = settings.EXITDESK_MASTER_KEYS[0]
    settings.EXITDESK_MASTER_KEYS = [other_key, development_key]
    crypto.forget_master()
    newer = MemberDataKey.objects.create(
        member=factories.MemberFactory(enterprise=enterprise, name="李四"),
        wrapped_key=crypto.wrap(b"k" * 32),
    )
    assert newer.pk > MemberDataKey.objects.order_by("pk").first().pk
    settings.EXITDESK_MASTER_KEYS = [other_key]
    assert [check_id for check_id, _ in master_key_issues(deploy=True)] == ["compliance.E003"]


def test_destroyed_keys_are_not_tried(settings, member, other_key):
    crypto.data_key(member.pk)
    crypto.destroy_key(member.pk)
    settings.EXITDESK_MASTER_KEYS = [other_key]
    assert master_key_issues(deploy=True) == []


# --- the page instead of a 500 ------------------------------------------------------------------


@pytest.fixture
def sealed_record(member):
    (record,) = records_of(member, 1, content="离职前与客户的最后沟通")
    sealing.seal_member_records(member, actor=None)
    record.refresh_from_db()
    return record


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_sealed_read_without_the_key_answers_503_saying_so(
    client, compliance_user, sealed_record, settings, other_key, language, caplog
):
    settings.EXITDESK_MASTER_KEYS = [other_key]
    crypto.forget_master()
    client.force_login(compliance_user)
    url = reverse("admin:compliance_workrecord_sealed", args=[sealed_record.pk])
    with caplog.at_level(logging.ERROR):
        response = client.post(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 503
    page = response.content.decode()
    assert SEALED_TEXT[language] in page
    assert "离职前与客户的最后沟通" not in page
    assert not AuditEvent.objects.filter(action="sealed_record_read").exists()
    # one line with the cause for the operator, at ERROR (no traceback from Django), besides the
    # request's own request_finished line (a 5xx: ERROR)
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted((r.name, r.levelname) for r in logged) == [
        ("compliance.middleware", "ERROR"),
        ("django_structlog.middlewares.request", "ERROR"),
    ]
    cause = next(r for r in logged if r.name == "compliance.middleware")
    assert "does not decrypt with EXITDESK_MASTER_KEYS" in cause.getMessage()


def test_closing_an_exit_without_the_key_answers_503_and_changes_nothing(
    client, hr_user, completed_exit, member, settings, other_key
):
    records_of(member, 2)
    exit_case = completed_exit(member)
    events = AuditEvent.objects.count()
    settings.EXITDESK_MASTER_KEYS = [other_key]
    crypto.forget_master()
    url = reverse("admin:offboarding_exit_transition", args=[exit_case.pk, "close"])
    with time_machine.travel(exit_case.undo_deadline, tick=False):
        client.force_login(hr_user)
        response = client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert SEALED_TEXT["en"] in response.content.decode()
    # rolled back: still completed, nothing sealed, no event
    assert refreshed(exit_case).state == ExitState.COMPLETED
    assert not WorkRecord.objects.filter(owner=member, sealed_content__isnull=False).exists()
    assert AuditEvent.objects.count() == events


def test_a_database_that_does_not_answer_is_a_warning_of_check_deploy(monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(crypto, "master_key_problem", unreachable)
    ((check_id, message),) = master_key_issues(deploy=True)
    assert check_id == "compliance.W003"
    assert message.startswith("Could not read a stored data key to try the master keys")


def test_a_group_robot_address_the_keys_do_not_unwrap_fails_check_deploy(
    settings, enterprise, other_key
):
    GroupRobot.objects.create(
        enterprise=enterprise,
        name="HR 群",
        platform="webhook",
        url_hint="json://…",
        sealed_url=crypto.wrap(b"json://localhost:8080/hook"),
    )
    settings.EXITDESK_MASTER_KEYS = [other_key]
    ((check_id, message),) = master_key_issues(deploy=True)
    assert check_id == "compliance.E003"
    assert message.startswith("A group robot's stored address does not unwrap")
