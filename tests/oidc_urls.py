"""The project's URLs plus django-oauth-toolkit's under /o/: the local OpenID Connect provider of
tests/test_oidc_sign_in.py. Tests only."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    *project_urlpatterns,
]
