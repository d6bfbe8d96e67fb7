"""The address a request came from, as django-axes counts failed sign-ins by it."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind the TLS proxy (BEHIND_TLS_PROXY) the last X-Forwarded-For entry: the one the
    proxy appended for its peer. Entries to its left come from the client and could be forged to dodge
    the per-address lockout."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")
