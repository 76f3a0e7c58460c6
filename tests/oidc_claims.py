"""The claims the test provider (tests/oidc_provider.py) states about a user."""

from oauth2_provider.oauth2_validators import OAuth2Validator

# username → the employee number the provider states for that user
IDP_EMPLOYEE_NUMBERS: dict[str, str] = {}


class ClaimsValidator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scopes asked

    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "employee_number": IDP_EMPLOYEE_NUMBERS.get(user.username, ""),
        }
