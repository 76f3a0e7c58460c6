from allauth.socialaccount.providers.dingtalk import views as dingtalk_views
from allauth.socialaccount.providers.feishu import views as feishu_views
from allauth.socialaccount.providers.openid_connect import views as oidc_views
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import LoginView
from django.urls import include, path

from config.observability import metrics_view
from directory import views as directory_views
from directory.health import ReadinessView, healthz
from directory.logins import AdminLoginForm
from directory.social import allows_provider_forms, configured_only
from offboarding.admin.pickers import autocomplete_view
from offboarding.forms import LoginForm

# The admin's login takes a member's "login@code" or an enterprise code too (staff logins have
# none), like the pages' login.
admin.site.login_form = AdminLoginForm
# Its pickers (autocomplete) label members by department and title, successors with their load,
# behind the same tenant wall (offboarding/admin/pickers.py).
admin.site.autocomplete_view = autocomplete_view

urlpatterns = [
    # The probes: answered by directory.health.ProbeMiddleware before any other middleware; named
    # here for `manage.py health_check readyz --no-http`.
    path("healthz", healthz, name="healthz"),
    path("readyz", ReadinessView.as_view(), name="readyz"),
    path("admin/", admin.site.urls),
    # Django's login page with our form (it also lets an old super admin in during their
    # emergency window); the rest of django.contrib.auth's pages as they are.
    # Its "Sign in with …" buttons lead to the configured providers (directory/social.py).
    path(
        "accounts/login/",
        allows_provider_forms(LoginView.as_view(authentication_form=LoginForm)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # Setting a password from a mailed link (directory/views.py): the invitation's, and the
    # reset's, whose request page also reaches members without a password and never says
    # whether an address is known.
    path(
        "accounts/password_reset/",
        directory_views.PasswordResetRequestView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        directory_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        directory_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        directory_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "accounts/invitation/<uidb64>/<token>/",
        directory_views.InvitationView.as_view(),
        name="invitation",
    ),
    # Sign-in through OpenID Connect, DingTalk and Feishu (directory/social.py): each provider's
    # login (GET: a page with the button; POST: off to the provider) and the callback to register
    # with the provider; 404 unless the deployment configured that provider. No other allauth page.
    path(
        "accounts/oidc/<slug:provider_id>/login/",
        configured_only(oidc_views.login, "openid_connect"),
        name="openid_connect_login",
    ),
    path(
        "accounts/oidc/<slug:provider_id>/login/callback/",
        configured_only(oidc_views.callback, "openid_connect"),
        name="openid_connect_callback",
    ),
    path(
        "accounts/dingtalk/login/",
        configured_only(dingtalk_views.oauth2_login, "dingtalk"),
        name="dingtalk_login",
    ),
    path(
        "accounts/dingtalk/login/callback/",
        configured_only(dingtalk_views.oauth2_callback, "dingtalk"),
        name="dingtalk_callback",
    ),
    path(
        "accounts/feishu/login/",
        configured_only(feishu_views.oauth2_login, "feishu"),
        name="feishu_login",
    ),
    path(
        "accounts/feishu/login/callback/",
        configured_only(feishu_views.oauth2_callback, "feishu"),
        name="feishu_callback",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    # Prometheus metrics: 404 unless METRICS_TOKEN is set, then only with that bearer token.
    path("metrics", metrics_view, name="metrics"),
    path("", include("offboarding.urls")),
]
