"""The name of a user's personal entity: one rule, used by accounts.services and the data migration."""

import re
from collections.abc import Callable

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_LENGTH = 64  # Entity.name
MAX_SUFFIX = 1000  # bounds the search for a free name


def personal_entity_name(username: str, is_taken: Callable[[str], bool]) -> str:
    """The username when it is a valid, free entity name; otherwise the username with the characters that
    entity names refuse (Django allows @ . +) turned into dashes, then -2, -3, ... until a name is free."""
    base = _NOT_ALLOWED.sub("-", username).lstrip("_-")[:_MAX_LENGTH] or "user"
    if not is_taken(base):
        return base
    for number in range(2, MAX_SUFFIX):
        suffix = f"-{number}"
        candidate = base[: _MAX_LENGTH - len(suffix)] + suffix
        if not is_taken(candidate):
            return candidate
    raise RuntimeError(f"No free personal entity name for {username!r}")


# The first segments of launchui's fixed addresses. /<entity>/<project> and /<entity>/<project>/runs/<id>
# (the addresses the wandb client prints) are matched after every fixed address, so an entity with one of
# these names would have pages nobody can reach: such names are refused when an entity is made.
# tests/accounts/test_reserved_names.py checks the list against every URL pattern.
RESERVED_ENTITY_NAMES = frozenset(
    {
        "admin",
        "api",
        "artifacts",
        "authorize",
        "entities",
        "files",
        "graphql",
        "healthz",
        "launch",
        "login",
        "logout",
        "media",
        "projects",
        "runs",
        "signup",
        "static",
    }
)


def is_reserved(name: str) -> bool:
    return name.lower() in RESERVED_ENTITY_NAMES
