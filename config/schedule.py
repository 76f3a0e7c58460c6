"""Every periodic job in one place: what runs when, and why.

The schedules themselves are rows of django-celery-beat (its DatabaseScheduler reads them), created
by data migrations so that every database has them after `migrate`, and editable in the admin
under "Periodic tasks": a schedule edited there is kept, never overwritten by a later migration.

Each task is a thin wrapper around one service function. Every run of a nightly job (J-1 … J-5)
holds its job's lease (directory/jobs.py: two beats or two workers never run one job at once; the
second records a `skipped` run) and writes a JobRun row — counts per enterprise, errors — that
staff read in the admin under "Job runs"; the admin home warns when a job's latest run failed,
when a run was lost (its worker died: marked `lost` once its lease expired), and when a job has not
succeeded within what its schedule here says (directory.jobs.overdue_jobs: its interval or crontab,
a nightly job once a day; the readiness check `directory.health_jobs.OverdueJobsCheck` says the
same). Every task below writes a run (tests/directory/test_jobs_truthful.py checks each scheduled
one); a run that ends failed fails its Celery task too (`JobFailed`), and a task that fails outside
a run is written as a failed run of its name.

The nightly jobs run hourly (at minute 5, UTC; the retention coordinator every 15 minutes) and each
run takes only the enterprises whose local night (01:00–05:59 in their own time zone) has come
and that the job has not done on their local date: an enterprise in Shanghai is done around 01:05
Shanghai time, one in Berlin around 01:05 Berlin time, each once a night. A run that fails in one
enterprise records the error and goes on; that enterprise is tried again at the next run of its
night.

- `offboarding.settle_inheritance`, every 10 minutes (offboarding/migrations/0004): handed-over
  customers whose acceptance period (24 hours by default) has ended become final (X-5).
- `offboarding.expire_grace_windows`, every 5 minutes (offboarding/migrations/0007): old super
  admins' emergency windows (grace policy, H-2) whose deadline has passed are closed and their
  sessions ended (J-1). The middleware already refuses a session past its deadline at its next
  request; the job records the close and logs them out everywhere.
- `offboarding.close_undo_windows`, hourly, each enterprise at its night
  (offboarding/migrations/0008; offboarding/jobs.py): completed exits whose undo window (误操作退出,
  24 hours by default) has ended are closed through the workflow's `close` door as the system,
  which seals the departed member's records (C-3, J-2). Until the job comes, HR may close an exit
  past its window by hand; the undo window itself ends at its deadline whatever the job does.
- `compliance.enforce_retention`, every 15 minutes (at minutes 5, 20, 35 and 50; hourly until
  offboarding/migrations/0016, which changes the schedule only if it was never edited), each
  enterprise at its night (offboarding/migrations/0008; compliance/jobs.py): each enterprise's
  retention policies applied
  to records past their age, legal holds honoured, chat kept at least its statutory floor
  (工作聊天记录保存≥180天), restricted erasure requests finished once their blocker lifted
  (C-2, C-4, C-5, J-3). Large enterprises are split into chunk tasks that several workers share.
  The coordinator's run waits for its chunks ("partial", with chunks_sent / chunks_done /
  chunks_left) and the run that finds them all done finishes the night and succeeds. A chunk not
  done EXITDESK_CHUNK_RESEND_SECONDS (15 minutes) after its last send — its worker killed — is
  sent again, also after the night hours, until the enterprise's local midnight; Redis would
  otherwise give it back only after the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT,
  15 minutes, which must exceed the longest single task).
- `directory.mark_pending_dissolution`, hourly, each enterprise at its night
  (offboarding/migrations/0008; directory/dissolution.py): departments whose subtree has no
  active member become pending dissolution (待解散), and those that gained a member become active
  again (D-2, J-4). Dissolving stays HR's decision, the "Dissolve" button on the department's page.
- `offboarding.sync_hr_terminations`, every 10 minutes (offboarding/migrations/0008;
  offboarding/hr_sync.py): terminations the HR system sent (CSV import, POST /api/hr/terminations)
  become `hr_sync` exits, once per external id (支持HR系统自动同步, J-5).
- `offboarding.send_reminders`, every 15 minutes (offboarding/migrations/0015;
  offboarding/notifications.py): the old super admin is warned a day before their emergency window
  closes (H-2), compliance is reminded of erasure requests due within 3 days (C-5), each once; and
  notifications queued but never picked up (a broker down at commit, a worker killed while
  sending) are queued again. Each notification itself is sent by `offboarding.send_notification`,
  queued on commit by the door that wrote it, retried with backoff when a send fails.
"""
