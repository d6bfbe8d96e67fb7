import base64
import binascii

from django.http import HttpRequest

from launchui.accounts.models import ApiKey
from launchui.accounts.services import api_key_authenticate


def api_key_from_request(request: HttpRequest) -> ApiKey | None:
    """HTTP Basic `api:<key>`, as the wandb client sends it on every call under the base URL."""
    # META, not request.headers: that builds a dict of every header on each call (the agent's hot path).
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, _, raw_key = decoded.partition(":")
    if not raw_key:
        return None
    return api_key_authenticate(raw_key)
