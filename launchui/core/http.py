"""The address clients reach this server at, for both doors: the agent command a page shows and the
signed upload and download URLs the wire hands out."""

from django.conf import settings
from django.http import HttpRequest


def public_base_url(request: HttpRequest) -> str:
    """LAUNCHUI_BASE_URL when set (behind a proxy), else the address this request came to; no trailing /."""
    return settings.LAUNCHUI_BASE_URL or request.build_absolute_uri("/").rstrip("/")
