"""W&B's global ids on the wire: launchui/core/ids.py, with a malformed id answered as the GraphQL error
the client prints."""

from launchui.core import ids
from launchui.wire.graphql import WireError

encode = ids.encode


def decode(value: object, type_name: str) -> int:
    """The primary key in a global id of the given type; a bare number is accepted too."""
    try:
        return ids.decode(value, type_name)
    except ids.InvalidId as exc:
        raise WireError(str(exc)) from None
