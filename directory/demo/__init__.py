"""A believable Chinese demo enterprise, built by `manage.py seed_demo` (the command's interface
is in directory/management/commands/seed_demo.py; everything it does is here).

- `names`: surnames, given names, customer companies; usernames and employee numbers.
- `plan`: the department plan (公司 → 中心 → 部门 → 小组) as the enterprise grows; job titles.
- `resources`: what each new member owns (D-4), by the kind of their department.
- `seeder`: `Seeder`, which tops an enterprise up to N members with bulk inserts, and the history
  rows it writes for them.
- `logins`: the demo logins (admin, hr, it, compliance, manager, employee).

All of it is reproducible: every random choice comes from one seeded random.Random, so the same
command on the same database state builds the same people, titles and resources.
"""


class SeedError(Exception):
    """The seeding cannot go on; the message says why and what to do (the command prints it)."""
