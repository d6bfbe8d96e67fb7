"""W&B's global ids (base64 of "Type:pk") and the artifact URIs that carry them."""

import base64
import binascii

# How a job's wandb-job.json points at its code artifact: wandb-artifact://_id/<global id of the Artifact>.
ARTIFACT_URI_PREFIX = "wandb-artifact://_id/"


class InvalidId(ValueError):
    """A global id that is malformed or names another type."""


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
        raise InvalidId(f"{text!r} is not a valid {type_name} id.") from None
    if kind != type_name or not pk.isdigit():
        raise InvalidId(f"{text!r} is not a valid {type_name} id.")
    return int(pk)


def artifact_uri(artifact_pk: int) -> str:
    return ARTIFACT_URI_PREFIX + encode("Artifact", artifact_pk)


def artifact_pk_from_uri(uri: str) -> int | None:
    """The artifact a wandb-artifact://_id/ URI names; None for any other reference.
    Raises InvalidId when the URI has the prefix but a malformed id."""
    if not uri.startswith(ARTIFACT_URI_PREFIX):
        return None
    return decode(uri[len(ARTIFACT_URI_PREFIX):], "Artifact")
