"""A real OpenID Connect provider for the sign-in tests: django-oauth-toolkit with OIDC enabled,
installed by config/settings/test.py, its URLs under /o/ in tests/oidc_urls.py.

Its users are Django users of the test database like any other; the claims it gives about one are
the user's `email` (verified) and an `employee_number` claim (tests/oidc_claims.py), which is
what a company's identity provider would know of its people.
"""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauth2_provider.apps import DOTConfig


class OAuth2ProviderTestConfig(DOTConfig):
    """django-oauth-toolkit, its models left out of the admin (the admin's URLs are the project's,
    each with its row in tests/test_permission_matrix.py)."""

    def ready(self):
        super().ready()
        from django.contrib import admin

        for model in self.get_models():
            if admin.site.is_registered(model):
                admin.site.unregister(model)


def rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
