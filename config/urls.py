from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from directory.logins import AdminLoginForm
from offboarding.forms import LoginForm

# The admin's login takes a member's "login@code" or an enterprise code too (staff logins have
# none), like the pages' login.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    # Django's login page with our form (it also lets an old super admin in during their
    # emergency window); the rest of django.contrib.auth's pages as they are.
    path("accounts/login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("offboarding.urls")),
]
