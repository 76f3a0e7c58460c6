"""Confirmations that say what will happen (the exit admin): completing before the last working
day warns, undo is offered only while its window is open (with its deadline), the review's
sign-off says it cannot be withdrawn; GET changes nothing, POST does, a reader's POST is refused."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from offboarding import services
from offboarding.choices import ExitState
from tests import factories
from tests.offboarding.conftest import refreshed

pytestmark = pytest.mark.django_db


def change_url(exit_case):
    return reverse("admin:offboarding_exit_change", args=[exit_case.pk])


def transition_url(exit_case, name):
    return reverse("admin:offboarding_exit_transition", args=[exit_case.pk, name])


def test_completing_before_the_last_working_day_warns_first(
    hr_client, member, exit_in_handover, ready_to_complete
):
    last_day = services.local_today(member.enterprise) + timedelta(days=10)
    exit_case = ready_to_complete(exit_in_handover(member, last_working_day=last_day))
    page = hr_client.get(transition_url(exit_case, "complete"))
    text = page.content.decode()
    assert 'id="exit-confirm-warning"' in text
    assert f"is {last_day:%Y-%m-%d}, 10 days from now. Completing now ends their access" in text
    assert refreshed(exit_case).state == ExitState.HANDOVER  # the GET changed nothing
    assert hr_client.post(transition_url(exit_case, "complete")).status_code == 302
    assert refreshed(exit_case).state == ExitState.COMPLETED


def test_completing_on_the_last_working_day_does_not_warn(
    hr_client, member, exit_in_handover, ready_to_complete
):
    today = services.local_today(member.enterprise)
    exit_case = ready_to_complete(exit_in_handover(member, last_working_day=today))
    page = hr_client.get(transition_url(exit_case, "complete"))
    assert 'id="exit-confirm-warning"' not in page.content.decode()


def test_undo_is_offered_with_its_deadline_only_while_the_window_is_open(
    hr_client, hr_user, member, completed_exit
):
    exit_case = completed_exit(member)
    page = hr_client.get(change_url(exit_case)).content.decode()
    assert transition_url(exit_case, "undo") in page
    confirm = hr_client.get(transition_url(exit_case, "undo")).content.decode()
    assert 'id="exit-undo-until"' in confirm
    with time_machine.travel(exit_case.undo_deadline + timedelta(minutes=1), tick=False):
        hr_client.force_login(hr_user)  # a day later: the idle session has ended
        page = hr_client.get(change_url(exit_case)).content.decode()
        assert transition_url(exit_case, "undo") not in page
        assert "Undo window ended" in page
        # the confirmation page is not offered either: back to the exit, told why
        response = hr_client.get(transition_url(exit_case, "undo"), follow=True)
        assert response.redirect_chain[-1][0] == change_url(exit_case)
        assert "this exit can no longer be undone" in response.content.decode()
        # and the door still refuses a POST
        response = hr_client.post(
            transition_url(exit_case, "undo"), {"password": factories.PASSWORD}, follow=True
        )
        assert "The undo window ended at" in response.content.decode()
        assert refreshed(exit_case).state == ExitState.COMPLETED


def test_the_review_sign_off_says_it_cannot_be_withdrawn(hr_client, member, exit_in_handover):
    exit_case = exit_in_handover(member)
    url = reverse("admin:offboarding_exit_sign_off_review", args=[exit_case.pk, "hr"])
    page = hr_client.get(url).content.decode()
    assert "a sign-off cannot be withdrawn" in page
    assert refreshed(exit_case).hr_signed_off_at is None
    assert hr_client.post(url).status_code == 302
    assert refreshed(exit_case).hr_signed_off_at is not None


def test_a_reader_posting_a_confirmation_is_refused(
    client, compliance_user, member, exit_in_handover
):
    exit_case = exit_in_handover(member)
    client.force_login(compliance_user)
    for url in (
        transition_url(exit_case, "complete"),
        reverse("admin:offboarding_exit_sign_off_review", args=[exit_case.pk, "hr"]),
    ):
        assert client.post(url).status_code == 403
    exit_case = refreshed(exit_case)
    assert exit_case.state == ExitState.HANDOVER
    assert exit_case.hr_signed_off_at is None
