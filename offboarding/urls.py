"""The manager and self-service pages (views in offboarding/views.py), and the HR system's JSON
endpoints (offboarding/api.py)."""

from django.urls import path

from . import api, views

app_name = "offboarding"

urlpatterns = [
    path("", views.home, name="home"),
    path("approvals/", views.approval_inbox, name="approvals"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval_detail"),
    path("me/exit/", views.my_exit, name="my_exit"),
    path("me/exit/<int:pk>/submit/", views.submit_my_exit, name="submit_my_exit"),
    path("me/exit/<int:pk>/cancel/", views.cancel_my_exit, name="cancel_my_exit"),
    path("me/handover/", views.super_admin, name="super_admin"),
    path("me/handover/<int:pk>/confirm/", views.confirm_handover, name="confirm_handover"),
    path("me/handover/<int:pk>/withdraw/", views.withdraw_handover, name="withdraw_handover"),
    path("me/emergency/", views.emergency, name="emergency"),
    path("me/emergency/report/", views.report_stolen, name="report_stolen"),
    path("me/freezes/<int:pk>/unfreeze/", views.unfreeze, name="unfreeze"),
    path("me/backup/", views.backup_admin, name="backup_admin"),
    path(
        "me/backup/<int:pk>/accept/",
        views.accept_backup_designation,
        name="accept_backup_designation",
    ),
    path(
        "me/backup/<int:pk>/withdraw/",
        views.withdraw_backup_designation,
        name="withdraw_backup_designation",
    ),
    path(
        "me/backup/members/<int:pk>/withdraw/",
        views.withdraw_backup_admin,
        name="withdraw_backup_admin",
    ),
    # The HR system's endpoint (token-authenticated JSON; offboarding/api.py).
    path("api/hr/terminations", api.hr_terminations, name="api_hr_terminations"),
    path("api/hr/directory", api.hr_directory, name="api_hr_directory"),
]
