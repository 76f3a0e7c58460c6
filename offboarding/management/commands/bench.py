"""`manage.py bench`: the heavy paths measured beside their limits, as a table (`make bench`).

`--scale S` (2,000 members) or `--scale M` (20,000 members, 400,000 external contacts, 2,000,000
work records); the options below override one size each. The benchmark makes a database of its
own (PostgreSQL: `<name>_bench`, dropped at the end unless `--keep`; SQLite:
var/bench-<scale>.sqlite3), migrates and seeds it, then measures: see offboarding/bench/ and
docs/benchmarks.md. The table goes to stdout, a JSON file of it to `--json` (default
var/bench-<scale>.json), the progress bar and what is being measured to stderr. Nothing here
asserts a time: it is measured.
"""

import dataclasses
import logging
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from offboarding.bench import database
from offboarding.bench.runner import SCALES, Bench
from offboarding.bench.table import render, write_json


class Command(BaseCommand):
    help = "Measure the heavy paths beside their limits (doors, sealing, verification, lists)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="S")
        parser.add_argument("--members", type=int, metavar="N")
        parser.add_argument(
            "--contacts", type=int, metavar="N", help="external contacts per member"
        )
        parser.add_argument("--records", type=int, metavar="N", help="work records per member")
        parser.add_argument("--events", type=int, metavar="N", help="audit events added")
        parser.add_argument(
            "--member-records",
            type=int,
            metavar="N",
            help="records of the member whose exit closes",
        )
        parser.add_argument("--signoffs", type=int, metavar="N", help="sign-offs per process")
        parser.add_argument("--runs", type=int, metavar="N", help="runs per figure (median)")
        parser.add_argument("--json", metavar="PATH", help="default var/bench-<scale>.json")
        parser.add_argument(
            "--keep", action="store_true", help="keep the benchmark's database afterwards"
        )
        parser.add_argument(
            "--current-database",
            action="store_true",
            help="measure in the configured database (migrated already; the test suite's), "
            "instead of a database of the benchmark's own",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, scale, current_database, keep, **options):
        sizes = dataclasses.replace(SCALES[scale])
        for name in ("members", "contacts", "records", "events", "member_records", "signoffs"):
            if options[name] is not None:
                if options[name] < 1:
                    raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
                setattr(sizes, name, options[name])
        if options["runs"] is not None:
            sizes.runs = max(1, options["runs"])
        if sizes.members < 30:
            raise CommandError("--members must be at least 30 (managers need reports).")
        json_path = Path(options["json"] or settings.VAR_DIR / f"bench-{scale.lower()}.json")
        json_path.parent.mkdir(parents=True, exist_ok=True)

        # Request and job lines (django-structlog's request_finished…) stay out of the table.
        logging.disable(logging.WARNING)
        # Measured as production runs: no query log kept in memory, no debug pages.
        debug, settings.DEBUG = settings.DEBUG, False
        original = settings.DATABASES["default"]["NAME"]
        own = None
        started = time.perf_counter()
        try:
            if not current_database:
                self.note("creating and migrating the benchmark's own database")
                own = database.use_own_database(scale)
            machine = database.machine()
            bench = Bench(
                sizes,
                progress_file=None if options["no_progress"] else self.stderr._out,
                log=self.note,
            )
            try:
                bench.run()
            except RuntimeError as error:  # what the benchmark found wrong, in a sentence
                raise CommandError(str(error)) from error
        finally:
            logging.disable(logging.NOTSET)
            settings.DEBUG = debug
            if own is not None and not keep:
                database.drop_own_database(own, original)
        seconds = time.perf_counter() - started
        header = [
            f"Exitdesk benchmark, SCALE={scale}: {sizes.members:,} members, "
            f"{sizes.contacts} external contacts and {sizes.records} work records each, "
            f"{sizes.events:,} audit events; each figure the median of its runs.",
            f"Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory']} RAM; "
            f"{machine['database']}; Python {machine['python']}, Django {machine['django']}; "
            f"load average at start {machine['load_average_at_start']}.",
            f"Total {seconds / 60:.1f} minutes.",
            "",
        ]
        self.stdout.write(render(bench.rows, header), ending="")
        write_json(
            json_path,
            machine=machine,
            sizes={"scale": scale, **vars(sizes)},
            rows=bench.rows,
            seconds=seconds,
        )
        self.note(f"the table as JSON: {json_path}")

    def note(self, line: str) -> None:
        # Above the progress bar, which is drawn again below it.
        tqdm.write(f"bench: {line}", file=self.stderr._out)
