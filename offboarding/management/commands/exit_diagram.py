"""`manage.py exit_diagram`: write the exit's state diagram from the model's transitions.

Writes offboarding/diagrams/exit-states.<language>.dot and .svg for each language and
docs/exit-states.svg (English, shown by the README). Needs Graphviz's `dot` program (Debian's
package graphviz) for the SVG. `--check` writes nothing and exits 1 when a committed DOT file is
not what the model's transitions give now (the test suite checks the same).
"""

from django.core.management.base import BaseCommand, CommandError

from offboarding import diagram


class Command(BaseCommand):
    help = "Draw the exit state diagram (DOT and SVG) from the Exit model's transitions."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Only check that the committed DOT is current."
        )

    def handle(self, *args, check=False, **options):
        stale = []
        for language in diagram.LANGUAGES:
            dot = diagram.exit_states_dot(language)
            path = diagram.dot_path(language)
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if check:
                if current != dot:
                    stale.append(str(path))
                continue
            diagram.DIAGRAMS.mkdir(exist_ok=True)
            path.write_text(dot, encoding="utf-8")
            svg = diagram.render_svg(dot)
            diagram.svg_path(language).write_text(svg, encoding="utf-8")
            if language == "en":
                diagram.README_SVG.parent.mkdir(exist_ok=True)
                diagram.README_SVG.write_text(svg, encoding="utf-8")
            self.stdout.write(f"{path} and {diagram.svg_path(language).name} written")
        if stale:
            raise CommandError(
                "Stale exit diagram, run `manage.py exit_diagram`: " + ", ".join(stale)
            )
