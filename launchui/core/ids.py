"""W&B's global ids (base64 of "Type:pk") and the artifact URIs that carry them."""

import base64
import binascii
import re

# How a job's wandb-job.json points at its code artifact: wandb-artifact://_id/<global id of the Artifact>.
ARTIFACT_URI_PREFIX = "wandb-artifact://_id/"


# ASCII digits only: str.isdigit() also accepts "²", which int() refuses. Bounded by a bigint primary key.
_PK = re.compile(r"[0-9]{1,19}")
MAX_PK = 2**63 - 1


class InvalidId(ValueError):
    """A global id that is malformed or names another type."""


def encode(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode(value: object, type_name: str) -> int:
    """The primary key in a global id of the given type; a bare number is accepted too."""
    text = str(value or "")
    if _is_pk(text):
        return int(text)
    try:
        kind, _, pk = base64.b64decode(text, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid(text, type_name) from None
    if kind != type_name or not _is_pk(pk):
        raise _invalid(text, type_name)
    return int(pk)


def _is_pk(text: str) -> bool:
    return bool(_PK.fullmatch(text)) and int(text) <= MAX_PK


def _invalid(text: str, type_name: str) -> InvalidId:
    shown = text if len(text) <= 80 else text[:80] + "…"
    return InvalidId(f"{shown!r} is not a valid {type_name} id.")


def artifact_uri(artifact_pk: int) -> str:
    return ARTIFACT_URI_PREFIX + encode("Artifact", artifact_pk)


def artifact_pk_from_uri(uri: str) -> int | None:
    """The artifact a wandb-artifact://_id/ URI names; None for any other reference.
    Raises InvalidId when the URI has the prefix but a malformed id."""
    if not uri.startswith(ARTIFACT_URI_PREFIX):
        return None
    return decode(uri[len(ARTIFACT_URI_PREFIX) :], "Artifact")
