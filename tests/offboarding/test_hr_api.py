"""`POST /api/hr/terminations`: the HR system's JSON endpoint (J-5). A token of one enterprise is
the only credential; a bad request is a clear 400 or 401 with the reason, and nothing written."""

import json
import os
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from directory.choices import StaffRole
from offboarding import hr_sync
from offboarding.choices import ExitKind, TerminationSource
from offboarding.models import Exit, HRSyncToken, HRTermination
from tests import factories
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.django_db

URL = "/api/hr/terminations"


@pytest.fixture
def leaver(enterprise):
    return factories.MemberFactory(enterprise=enterprise, employee_number="E100")


@pytest.fixture
def token(enterprise, hr_user):
    """The token itself (what the HR system sends); only its hash is stored."""
    _row, raw = hr_sync.create_token(enterprise, name="北森 HR", actor=hr_user)
    return raw


def termination(**fields):
    return {
        "employee_number": "E100",
        "last_working_day": "2026-12-31",
        "reason": "合同到期",
        "external_id": "HR-1",
        **fields,
    }


def post(client, body, token=None, **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def test_the_url_is_the_documented_one():
    assert reverse("offboarding:api_hr_terminations") == URL


def test_a_valid_request_receives_the_terminations(client, enterprise, leaver, token):
    response = post(client, {"terminations": [termination()]}, token)

    assert response.status_code == 201
    answer = response.json()
    created = HRTermination.objects.get()
    assert answer["created"] == 1 and answer["already_received"] == 0
    assert answer["terminations"] == [
        {"index": 0, "external_id": "HR-1", "id": created.pk, "status": "new"}
    ]
    assert created.source == TerminationSource.API
    assert created.token == HRSyncToken.objects.get()
    assert created.received_by is None
    assert HRSyncToken.objects.get().last_used_at is not None


def test_the_token_is_stored_only_as_its_hash(enterprise, token):
    stored = HRSyncToken.objects.get()
    assert stored.token_hash == hr_sync.hash_token(token) and token not in stored.token_hash
    assert len(token) >= 43  # 32 random bytes


def test_sending_twice_receives_once_and_makes_one_exit(client, enterprise, leaver, token):
    first = post(client, {"terminations": [termination()]}, token)
    hr_sync.sync_pending()
    second = post(client, {"terminations": [termination()]}, token)
    hr_sync.sync_pending()

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["created"] == 0 and second.json()["already_received"] == 1
    assert second.json()["terminations"][0]["id"] == HRTermination.objects.get().pk
    assert Exit.objects.filter(member=leaver, kind=ExitKind.HR_SYNC).count() == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", "Basic aHI6cHc=", "Token {token}"],
)
def test_a_missing_or_wrong_token_is_401_and_nothing_written(
    client, enterprise, leaver, token, authorization
):
    extra = {}
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization.format(token=token)
    response = post(client, {"terminations": [termination()]}, **extra)

    assert response.status_code == 401
    assert response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not HRTermination.objects.exists()


def test_a_revoked_token_is_refused(client, enterprise, leaver, token, hr_user):
    hr_sync.revoke_token(HRSyncToken.objects.get(), actor=hr_user)
    response = post(client, {"terminations": [termination()]}, token)
    assert response.status_code == 401
    assert response.json() == {"error": "This token is not valid, or was revoked."}
    assert not HRTermination.objects.exists()


def test_a_session_cookie_alone_is_not_enough(client, enterprise, leaver, hr_user):
    client.force_login(hr_user)
    response = post(client, {"terminations": [termination()]})
    assert response.status_code == 401
    assert not HRTermination.objects.exists()


@pytest.mark.parametrize(
    "body, says",
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"terminations": {"employee_number": "E100"}}', "JSON object"),
        ('{"terminations": [], "extra": 1}', "Unknown keys: extra"),
        ('{"terminations": []}', "no terminations"),
    ],
)
def test_a_malformed_body_is_400_with_the_reason_and_nothing_written(
    client, enterprise, leaver, token, body, says
):
    response = post(client, body, token)

    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not HRTermination.objects.exists()


def test_row_errors_are_400_listing_each_row_and_nothing_written(client, enterprise, leaver, token):
    other = factories.MemberFactory(employee_number="X900")  # another enterprise's member
    for number in ("E200", "E300", "E400"):
        factories.MemberFactory(enterprise=enterprise, employee_number=number)
    body = {
        "terminations": [
            termination(),
            termination(employee_number=other.employee_number, external_id="HR-2"),
            termination(employee_number="E200", last_working_day="2026-13-01", external_id="HR-3"),
            termination(employee_number="E300", external_id=""),
            termination(employee_number="E400", external_id="HR-5"),
        ]
    }

    response = post(client, body, token)

    assert response.status_code == 400
    answer = response.json()
    assert "3 of the terminations have errors" in answer["error"]
    assert [(row["index"], sorted(row["errors"])) for row in answer["rows"]] == [
        (1, ["employee_number"]),
        (2, ["last_working_day"]),
        (3, ["external_id"]),
    ]
    assert not HRTermination.objects.exists()
    assert not AuditEvent.objects.filter(action="hr_termination_received").exists()


def test_a_token_of_one_enterprise_cannot_terminate_anothers_member(
    client, enterprise, leaver, hr_user
):
    other = factories.EnterpriseFactory(name="别家公司")
    other_hr = factories.StaffFactory(username="other-hr", enterprise=other, role=StaffRole.HR)
    _row, other_token = hr_sync.create_token(other, name="their HR", actor=other_hr)

    response = post(client, {"terminations": [termination()]}, other_token)

    assert response.status_code == 400
    assert response.json()["rows"][0]["errors"]["employee_number"]
    assert not HRTermination.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, token, method):
    response = getattr(client, method)(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]


def test_no_csrf_token_is_needed(enterprise, leaver, token):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, {"terminations": [termination()]}, token)
    assert response.status_code == 201


# ---------------------------------------------------------------------------------------------
# Tokens in the admin


def test_hr_creates_a_token_and_sees_it_once(hr_client, enterprise):
    response = hr_client.post(
        reverse("admin:offboarding_hrsynctoken_add"), {"enterprise": enterprise.pk, "name": "北森"}
    )

    assert response.status_code == 200
    raw = response.context["token"]
    stored = HRSyncToken.objects.get()
    assert stored.token_hash == hr_sync.hash_token(raw)
    assert raw in response.content.decode()
    page = hr_client.get(reverse("admin:offboarding_hrsynctoken_change", args=[stored.pk]))
    assert page.status_code == 200 and raw not in page.content.decode()
    assert AuditEvent.objects.filter(action="hr_sync_token_created").count() == 1


def test_hr_revokes_a_token_with_a_post(hr_client, enterprise, token):
    stored = HRSyncToken.objects.get()
    url = reverse("admin:offboarding_hrsynctoken_revoke", args=[stored.pk])

    # the GET says what revoking does, and changes nothing
    page = hr_client.get(url)
    assert page.status_code == 200
    assert "It cannot be undone" in page.content.decode()
    stored.refresh_from_db()
    assert stored.revoked_at is None
    assert hr_client.post(url).status_code == 302

    stored.refresh_from_db()
    assert stored.revoked_at is not None
    assert post(hr_client, {"terminations": [termination()]}, token).status_code == 401


def test_it_and_other_hr_may_not_revoke(client, it_user, enterprise, token):
    stored = HRSyncToken.objects.get()
    url = reverse("admin:offboarding_hrsynctoken_revoke", args=[stored.pk])
    client.force_login(it_user)
    assert client.post(url).status_code == 403  # IT may revoke no token anywhere
    other_hr = factories.StaffFactory(
        username="other-hr", enterprise__name="别家公司", role=StaffRole.HR
    )
    client.force_login(other_hr)
    assert client.post(url).status_code == 404
    stored.refresh_from_db()
    assert stored.revoked_at is None


def test_the_same_termination_twice_in_one_request_is_received_once(
    client, enterprise, leaver, token
):
    response = post(client, {"terminations": [termination(), termination()]}, token)

    assert response.status_code == 201
    answer = response.json()
    assert (answer["created"], answer["already_received"]) == (1, 1)
    ids = {row["id"] for row in answer["terminations"]}
    assert ids == {HRTermination.objects.get().pk}


# ---------------------------------------------------------------------------------------------
# Bad input is an answer: bodies nested too deeply, wrong tokens throttled per address


@pytest.mark.parametrize("levels", [50, 100_000])
def test_a_deeply_nested_body_is_a_400_that_says_so(client, enterprise, token, levels):
    body = '{"terminations": ' + "[" * levels + "]" * levels + "}"

    response = post(client, body, token)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The body is nested too deeply: at most 5 levels of objects and lists."
    }
    assert not HRTermination.objects.exists()


def test_a_body_of_the_documented_shape_is_not_too_deep(client, enterprise, leaver, token):
    response = post(client, {"terminations": [termination()]}, token)

    assert response.status_code == 201


def wrong_tokens_are_throttled_per_address(client, enterprise, leaver, token):
    """After API_TOKEN_FAILURE_LIMIT (3 here) wrong tokens from one address, that address gets
    429 with Retry-After — a right token too — until the window has passed; another address is
    not affected."""
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for _attempt in range(3):
        assert post(client, {"terminations": [termination()]}, "guess", **here).status_code == 401

    refused = post(client, {"terminations": [termination()]}, token, **here)

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert "Too many wrong tokens from this address" in refused.json()["error"]
    assert not HRTermination.objects.exists()
    elsewhere = post(client, {"terminations": [termination()]}, token, REMOTE_ADDR="198.51.100.2")
    assert elsewhere.status_code == 201
    return refused


@pytest.fixture
def throttle_of_three(settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    settings.API_TOKEN_FAILURE_WINDOW = timedelta(minutes=15)


def test_wrong_tokens_are_throttled_per_address_until_the_window_passes(
    client, enterprise, leaver, token, throttle_of_three
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        wrong_tokens_are_throttled_per_address(client, enterprise, leaver, token)
        here = {"REMOTE_ADDR": "203.0.113.7"}
        traveller.shift(timedelta(minutes=14))
        assert post(client, {"terminations": [termination(external_id="HR-2")]}, token, **here)[
            "Retry-After"
        ] == str(60)
        traveller.shift(timedelta(minutes=1, seconds=1))
        response = post(client, {"terminations": [termination(external_id="HR-2")]}, token, **here)
        assert response.status_code in (200, 201)


def test_a_right_token_does_not_count_and_fewer_wrong_ones_are_answered_401(
    client, enterprise, leaver, token, throttle_of_three
):
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for _attempt in range(2):
        assert post(client, {"terminations": [termination()]}, "guess", **here).status_code == 401
    assert post(client, {"terminations": [termination()]}, token, **here).status_code == 201
    assert post(client, {"terminations": [termination()]}, "guess", **here).status_code == 401
    assert post(client, {"terminations": [termination()]}, token, **here).status_code == 429


def test_the_throttle_counts_in_redis_when_the_cache_is_redis(
    client, enterprise, leaver, token, throttle_of_three, settings
):
    redis = pytest.importorskip("redis")
    url = os.environ.get("CELERY_BROKER_URL", "")
    url = url if url.startswith("redis://") else "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        skip_or_fail(f"this test needs Redis at {url}")
    prefix = f"exitdesk-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    try:
        wrong_tokens_are_throttled_per_address(client, enterprise, leaver, token)
        assert list(redis.Redis.from_url(url).scan_iter(f"{prefix}:*"))  # counted there
    finally:
        client_ = redis.Redis.from_url(url)
        for key in client_.scan_iter(f"{prefix}:*"):
            client_.delete(key)
