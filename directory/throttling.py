"""Failures counted per client address, on Django's cache: after `limit` failures within `window`,
the address is refused — even what would have succeeded — until `window` has passed (S-5).

    API_TOKENS = FailureThrottle("api_token", limit_setting=…, window_setting=…)
    wait = API_TOKENS.retry_after(address)     # seconds to wait, 0: go on
    …
    API_TOKENS.failed(address)                 # after a failure; returns the wait it starts

Settings name the limit (an int) and the window (a timedelta), read at each call. The counts live
in the default cache (CACHES, from CACHE_URL): production needs a cache all web processes share
(Redis), or each process counts alone. A failure count expires one window after the address's
first failure; reaching the limit blocks the address for one window and starts a new count.
Logins and password re-entries are counted by django-axes instead (directory/security.py).
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class FailureThrottle:
    name: str
    limit_setting: str
    window_setting: str

    @property
    def limit(self) -> int:
        return getattr(settings, self.limit_setting)

    @property
    def window_seconds(self) -> int:
        return max(1, math.ceil(getattr(settings, self.window_setting).total_seconds()))

    def _key(self, address: str | None, what: str) -> str:
        return f"exitdesk:throttle:{self.name}:{address or 'unknown'}:{what}"

    def retry_after(self, address: str | None) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        blocked_until = cache.get(self._key(address, "blocked_until"))
        if blocked_until is None:
            return 0
        return max(0, math.ceil(blocked_until - time.time()))

    def failed(self, address: str | None) -> int:
        """Count one failure from `address`. Returns the seconds it must now wait (0: none)."""
        window = self.window_seconds
        key = self._key(address, "failures")
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures < self.limit:
            return 0
        cache.set(self._key(address, "blocked_until"), time.time() + window, timeout=window)
        cache.delete(key)
        return window


# Wrong tokens sent to the HR system's API (offboarding/api.py).
API_TOKENS = FailureThrottle(
    "api_token",
    limit_setting="API_TOKEN_FAILURE_LIMIT",
    window_setting="API_TOKEN_FAILURE_WINDOW",
)
