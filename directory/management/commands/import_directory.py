"""`manage.py import_directory --enterprise CODE FILE [FILE …]`: the directory import of the admin
(Directory → Members → Import) from the command line, for a first import or a script.

Each FILE is a CSV file (UTF-8 or GBK) or an XLSX workbook holding departments, members or owned
resources (directory/importing.py says how a table is recognised). All files are checked together
and written in one transaction, or nothing when a row is bad: each bad row is printed with its
file, sheet, line and reasons, and the command fails. What the import keeps although the file
says otherwise (a stored member's e-mail address, see directory.importing.check_emails) is printed
the same way, as a notice. `--dry-run` checks only. A progress bar shows
the rows being written (on a terminal). The rows' history and the audit event name no user: the
command acts as the system, like the jobs.

This module is the interface only: the rules are in directory.importing.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from directory import importing
from directory.models import Enterprise


class Command(BaseCommand):
    help = "Import an enterprise's departments, members and owned resources from CSV/XLSX files."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--enterprise", required=True, metavar="CODE")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")

    def handle(self, *args, files, enterprise, dry_run, **options):
        target = Enterprise.objects.filter(code=enterprise).first()
        if target is None:
            raise CommandError(f"There is no enterprise with the code {enterprise}.")
        tables, names = [], {}
        try:
            for name in files:
                path = Path(name)
                if not path.is_file():
                    raise CommandError(f"{name}: no such file.")
                data = path.read_bytes()
                file_format = "xlsx" if data[:4] == b"PK\x03\x04" else "csv"
                for table in importing.read_tables(data, file_format):
                    names[id(table)] = name
                    tables.append(table)
        except importing.FileRefused as refusal:
            raise CommandError(f"{name}: {refusal}") from None
        kinds = [table.kind for table in tables]
        if len(kinds) != len(set(kinds)):
            raise CommandError("Two files hold the same kind of table: put them in one.")
        try:
            if dry_run:
                summary = importing.check(target, tables)
            else:
                with tqdm(desc="writing", unit=" rows", file=self.stderr._out, disable=None) as bar:
                    summary = importing.apply(target, tables, actor=None, progress=bar)
        except importing.FileRefused as refusal:
            raise CommandError(str(refusal)) from None
        except importing.ImportRefused as refusal:
            summary = refusal.summary
        file_of_kind = {table.kind: names[id(table)] for table in tables}

        def where(outcome):
            name = file_of_kind[outcome.kind]
            return f"{name} [{outcome.sheet}]" if outcome.sheet else name

        for outcome in summary.invalid:
            self.stderr.write(f"{where(outcome)} line {outcome.line}: {' '.join(outcome.errors)}")
        for outcome in summary.noticed:
            for notice in outcome.notices:
                self.stdout.write(f"{where(outcome)} line {outcome.line}: {notice}")
        for kind in (importing.DEPARTMENTS, importing.MEMBERS, importing.RESOURCES):
            counts = summary.counts(kind)
            if summary.total(kind):
                self.stdout.write(
                    f"{kind}: {summary.total(kind)} rows, {counts[importing.NEW]} new, "
                    f"{counts[importing.CHANGED]} changed, {counts[importing.UNCHANGED]} "
                    f"unchanged, {counts[importing.INVALID]} with errors"
                )
        if summary.invalid:
            raise CommandError(f"{len(summary.invalid)} rows have errors: nothing was imported.")
        self.stdout.write("Checked: nothing written (--dry-run)." if dry_run else "Imported.")
