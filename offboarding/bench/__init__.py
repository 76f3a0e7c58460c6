"""The benchmark behind `manage.py bench` (`make bench`): seeding at scale (seeding.py), doors
in several processes (doors.py), the measurements in the table's order (runner.py), the table
and its JSON (table.py), the benchmark's own database and the machine's description
(database.py). docs/benchmarks.md says what each row means."""
