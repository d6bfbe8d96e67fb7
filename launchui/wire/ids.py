"""W&B's global ids: base64 of "Type:pk"."""

import base64
import binascii

from launchui.wire.graphql import WireError


def encode(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode(value: object, type_name: str) -> int:
    """The primary key in a global id of the given type; a bare number is accepted too."""
    text = str(value or "")
    if text.isdigit():
        return int(text)
    try:
        kind, _, pk = base64.b64decode(text, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise WireError(f"{text!r} is not a valid {type_name} id.") from None
    if kind != type_name or not pk.isdigit():
        raise WireError(f"{text!r} is not a valid {type_name} id.")
    return int(pk)
