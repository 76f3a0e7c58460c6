"""Sign-in through what members already use (D-1): the django-allauth apps of this deployment,
read from the environment. Every provider is off unless its variables are set.

    OIDC_PROVIDERS              ids of the OpenID Connect providers, comma-separated (e.g. "corp");
                                for each id, upper-cased as <ID>:
    OIDC_<ID>_SERVER_URL        the issuer (its /.well-known/openid-configuration is read)
    OIDC_<ID>_CLIENT_ID, OIDC_<ID>_SECRET   the client registered there
    OIDC_<ID>_NAME              the name on the button ("Sign in with <name>"; default the id)
    OIDC_<ID>_MATCH_BY          "email" (default: the `email` claim, refused when
                                `email_verified` is false) or "employee_number"
    OIDC_<ID>_EMPLOYEE_NUMBER_CLAIM  the claim holding the employee number (default
                                "employee_number")
    OIDC_<ID>_ENTERPRISE        optional: the code of the only enterprise its people belong to
    DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET   a DingTalk app (matched by e-mail: DingTalk's
                                user info carries no job number); DINGTALK_ENTERPRISE optional
    FEISHU_APP_ID, FEISHU_APP_SECRET   a Feishu app; FEISHU_MATCH_BY "email" (default: the
                                enterprise e-mail, else the e-mail) or "employee_number"
                                (`employee_no`); FEISHU_ENTERPRISE optional

How a member is matched: directory/social.py.
"""

MATCH_BY = ("email", "employee_number")


def _match_by(env, name: str) -> str:
    value = env(name, default="email").strip().lower()
    if value not in MATCH_BY:
        raise ValueError(f"{name} must be one of {', '.join(MATCH_BY)}, not {value!r}")
    return value


def providers_from_env(env) -> dict:
    """SOCIALACCOUNT_PROVIDERS: one app per configured provider (allauth's "APPS" setting);
    our own options in each app's `settings` under "exitdesk_*"."""
    providers = {}
    oidc_apps = []
    for provider_id in env.list("OIDC_PROVIDERS", default=[]):
        provider_id = provider_id.strip().lower()
        if not provider_id:
            continue
        prefix = f"OIDC_{provider_id.upper().replace('-', '_')}_"
        oidc_apps.append(
            {
                "provider_id": provider_id,
                "name": env(prefix + "NAME", default=provider_id),
                "client_id": env(prefix + "CLIENT_ID"),
                "secret": env(prefix + "SECRET"),
                "settings": {
                    "server_url": env(prefix + "SERVER_URL"),
                    "exitdesk_match_by": _match_by(env, prefix + "MATCH_BY"),
                    "exitdesk_employee_number_claim": env(
                        prefix + "EMPLOYEE_NUMBER_CLAIM", default="employee_number"
                    ),
                    "exitdesk_enterprise": env(prefix + "ENTERPRISE", default="").lower(),
                },
            }
        )
    if oidc_apps:
        providers["openid_connect"] = {"APPS": oidc_apps, "OAUTH_PKCE_ENABLED": True}
    if env("DINGTALK_CLIENT_ID", default=""):
        providers["dingtalk"] = {
            "APPS": [
                {
                    "client_id": env("DINGTALK_CLIENT_ID"),
                    "secret": env("DINGTALK_CLIENT_SECRET"),
                    "settings": {
                        "exitdesk_match_by": "email",
                        "exitdesk_enterprise": env("DINGTALK_ENTERPRISE", default="").lower(),
                    },
                }
            ]
        }
    if env("FEISHU_APP_ID", default=""):
        providers["feishu"] = {
            "APPS": [
                {
                    "client_id": env("FEISHU_APP_ID"),
                    "secret": env("FEISHU_APP_SECRET"),
                    "settings": {
                        "exitdesk_match_by": _match_by(env, "FEISHU_MATCH_BY"),
                        "exitdesk_enterprise": env("FEISHU_ENTERPRISE", default="").lower(),
                    },
                }
            ]
        }
    return providers
