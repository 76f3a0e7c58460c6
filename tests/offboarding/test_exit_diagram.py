"""The exit's state diagram: drawn from the model's transitions, committed, never stale."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from offboarding import diagram
from offboarding.choices import ExitState
from offboarding.models import Exit
from tests import factories


def _edges(dot: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(\w+) -> (\w+)", dot, flags=re.MULTILINE))


@pytest.mark.parametrize("language", diagram.LANGUAGES)
def test_the_committed_diagram_is_what_the_model_transitions_give_now(language):
    # when the diagram is drawn from the model as it is now
    dot = diagram.exit_states_dot(language)

    # then it is the committed one: a changed transition needs `manage.py exit_diagram`
    committed = diagram.dot_path(language).read_text(encoding="utf-8")
    assert dot == committed, "stale: run `python manage.py exit_diagram` and commit the files"
    # and its SVG was drawn from it (every state is a node of the picture)
    svg = diagram.svg_path(language).read_text(encoding="utf-8")
    for state in ExitState.values:
        assert f"<title>{state}</title>" in svg


def test_the_diagram_has_every_transition_of_the_model_and_no_other():
    # given the model's own transitions, read without the diagram's code
    expected = {("_start", ExitState.DRAFT)}
    for transition in Exit._meta.get_field("state").get_all_transitions(Exit):
        expected.add((transition.source, transition.target))

    # then the diagram has exactly these arrows
    assert _edges(diagram.exit_states_dot("en")) == expected


def test_the_diagram_is_the_same_on_every_run_and_labelled_in_the_language():
    assert diagram.exit_states_dot("en") == diagram.exit_states_dot("en")
    assert 'label="Pending approval"' in diagram.exit_states_dot("en")
    assert 'label="待审批"' in diagram.exit_states_dot("zh-hans")
    assert 'label="同意"' in diagram.exit_states_dot("zh-hans")


def test_only_the_current_state_is_marked():
    svg = diagram.marked_svg(ExitState.HANDOVER, label="x", language="en")
    marked = re.findall(r'class="node current" data-state="(\w+)"', svg)
    assert marked == ["handover"]
    assert svg.startswith('<svg role="img" aria-label="x" ')


def test_the_exit_page_shows_the_diagram_with_its_state_marked(
    client, enterprise, hr_user, open_exit_for
):
    # given a draft exit
    exit_case = open_exit_for(factories.MemberFactory(enterprise=enterprise))
    client.force_login(hr_user)

    # when HR opens it in Chinese
    with translation.override("zh-hans"):
        url = reverse("admin:offboarding_exit_change", args=[exit_case.pk])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")

    # then the picture is there, the draft marked, in the page's language
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="node current" data-state="draft"' in html
    assert "<title>" not in html.split('aria-label="', 1)[1]  # no state codes shown on hover
    assert "待审批" in html
