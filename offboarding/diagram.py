"""The exit's state diagram, drawn from the Exit model's own transitions (spec X-1), never by hand.

`exit_states_dot(language)` asks django_fsm's `graph_transitions` functions for the graph of
`Exit.state` — every `@transition` of the model, its sources and targets — and writes it as DOT
text that is the same on every run (django_fsm builds it from sets, whose order changes from one
process to the next): its lines sorted, the nodes named by the state's value (`draft`…), labelled
by the state's name and each edge by its transition's name, in `language`.

`manage.py exit_diagram` writes that text and the SVG that Graphviz's `dot` draws from it into
offboarding/diagrams/ (one pair per language) and docs/exit-states.svg (English, for the README);
tests/offboarding/test_exit_diagram.py fails when a committed DOT file is not what the model gives
now, so the picture cannot go stale. The exit's admin page inlines the committed SVG of the page's
language with the node of the exit's current state marked (`marked_svg`), without `dot`.
"""

import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django_fsm.management.commands.graph_transitions import generate_dot, one_fsm_fields_data

from .choices import Transition
from .models import Exit

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
README_SVG = Path(settings.BASE_DIR) / "docs" / "exit-states.svg"
LANGUAGES = ("en", "zh-hans")

_QUOTED = r'"(?:[^"\\]|\\.)*"|[^\s\[\]]+'


def exit_states_dot(language: str) -> str:
    """The DOT text of Exit.state's transitions, labelled in `language`, the same on every run."""
    with translation.override(language):
        field_data = one_fsm_fields_data(Exit, "state")
        graph = generate_dot([field_data])
        opts = Exit._meta
        prefix = re.escape(f"{opts.app_label}.{opts.verbose_name}.state.".replace(" ", "_"))
        transition_names = {t.value: str(t.label) for t in Transition}
        title = _("States of an exit")
        statements, edges = [], []
        for line in str(graph).splitlines():
            line = line.strip()
            if not line or line in {"digraph {", "}"} or line.startswith("subgraph "):
                continue
            # Nodes named by the state's value, whatever the language's verbose name of Exit.
            line = re.sub(rf'"?{prefix}([a-z_]+)"?', r"\1", line)
            if line.startswith(("label=", "graph [")):
                continue  # the cluster's "offboarding.Exit.state": the title below instead
            match = re.search(r"label=(" + _QUOTED + ")", line)
            if "->" in line and match:
                name = match.group(1).strip('"')
                line = line.replace(match.group(0), f'label="{transition_names.get(name, name)}"')
            (edges if "->" in line else statements).append(line)
        # Where an exit starts (django_fsm compares the default with the label, never equal).
        statements.append('_start [label="" shape=point]')
        edges.append(f"_start -> {Exit._meta.get_field('state').default}")
    body = "\n".join(f"\t\t{line}" for line in sorted(statements) + sorted(edges))
    return (
        "digraph exit_states {\n"
        "\trankdir=LR\n"
        '\tnode [fontname="Noto Sans CJK SC, Noto Sans, sans-serif"]\n'
        '\tedge [fontname="Noto Sans CJK SC, Noto Sans, sans-serif" fontsize=11]\n'
        "\tsubgraph cluster_exit_state {\n"
        f'\t\tlabel="{title}"\n'
        f"{body}\n"
        "\t}\n"
        "}\n"
    )


def dot_path(language: str) -> Path:
    return DIAGRAMS / f"exit-states.{language}.dot"


def svg_path(language: str) -> Path:
    return DIAGRAMS / f"exit-states.{language}.svg"


def render_svg(dot: str) -> str:
    """The SVG that Graphviz's `dot` program draws from `dot` (Debian's package graphviz)."""
    import graphviz

    return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")


@cache
def _committed_svg(language: str) -> str:
    text = svg_path(language).read_text(encoding="utf-8")
    return text[text.index("<svg") :]  # without the XML declaration and doctype: inlined in HTML


def marked_svg(state: str, *, label: str, language: str | None = None) -> str:
    """The committed SVG of `language` (the active one by default), with the node of `state`
    marked by the class "current" (styled by directory/static/directory/a11y.css), named
    `label` for assistive technology (an image)."""
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    if language not in LANGUAGES:
        language = "zh-hans" if language.startswith("zh") else "en"
    svg = _committed_svg(language).replace(
        "<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1
    )
    # Graphviz titles each node and edge by its id (a state's code, "draft->handover"), which a
    # browser shows on hover: the picture is named by `label`, its boxes by their own text. A
    # node keeps its state as data-state; the current one is marked.
    svg = re.sub(
        r'class="node">\s*<title>([^<]*)</title>',
        lambda node: (
            f'class="node{" current" if node.group(1) == state else ""}" '
            f'data-state="{node.group(1)}">'
        ),
        svg,
    )
    return re.sub(r"<title>[^<]*</title>", "", svg)
