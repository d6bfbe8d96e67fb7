"""Content-addressed blobs through Django's storage API, and self-authenticating transfer URLs.

The wandb client PUTs uploads and GETs downloads with no credentials, so each URL carries a signed,
expiring token that names exactly one digest (and, for uploads, the artifact it belongs to). A download
token also names its holder and the entity that owns the file: it works only while the holder is still a
member, and only for LAUNCHUI_DOWNLOAD_URL_MAX_AGE seconds (the client uses each URL right after asking).
"""

import base64
import binascii
import hashlib

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from launchui.core.storage import move_into_storage, staged

UPLOAD_SALT = "launchui.artifacts.upload"
DOWNLOAD_SALT = "launchui.artifacts.download"
UPLOAD_MAX_AGE = 24 * 3600


def digest_hex(digest_b64: str) -> str:
    """The hex form of a base64 md5, used as the storage key; rejects anything that is not an md5."""
    try:
        raw = base64.b64decode(digest_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{digest_b64!r} is not a base64 md5 digest") from None
    if len(raw) != 16:
        raise ValueError(f"{digest_b64!r} is not a base64 md5 digest")
    return raw.hex()


def blob_key(digest_b64: str) -> str:
    hexed = digest_hex(digest_b64)
    return f"blobs/{hexed[:2]}/{hexed}"


def md5_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def blob_exists(digest_b64: str) -> bool:
    return default_storage.exists(blob_key(digest_b64))


def blob_save(content: bytes) -> str:
    """Store bytes under their digest (once); returns the base64 md5."""
    digest = md5_b64(content)
    key = blob_key(digest)
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(content))
    return digest


class BlobDigestMismatch(Exception):
    pass


def blob_save_stream(
    read, *, expected_digest: str, max_bytes: int, announced: int | None = None, chunk_size: int = 1024 * 1024
) -> None:
    """Store the bytes read() yields, with bounded memory, as the blob of expected_digest if they match it.
    Raises TooLarge past max_bytes and BlobDigestMismatch on other bytes; nothing is stored then."""
    key = blob_key(expected_digest)
    with staged(read, max_bytes=max_bytes, announced=announced, chunk_size=chunk_size) as (path, _, digest):
        if digest != expected_digest:
            raise BlobDigestMismatch("The uploaded bytes do not match the digest this upload URL was issued for.")
        if not default_storage.exists(key):
            move_into_storage(path, key)


def blob_open(digest_b64: str):
    return default_storage.open(blob_key(digest_b64), "rb")


def blob_read(digest_b64: str) -> bytes:
    with blob_open(digest_b64) as handle:
        return handle.read()


def blob_read_small(digest_b64: str, max_bytes: int) -> bytes | None:
    """The blob's bytes, or None when it is larger than max_bytes (uploads may be gigabytes)."""
    with blob_open(digest_b64) as handle:
        content = handle.read(max_bytes + 1)
    return content if len(content) <= max_bytes else None


def upload_url(base_url: str, *, artifact_id: int, digest: str, name: str) -> str:
    token = signing.dumps({"a": artifact_id, "d": digest, "n": name[:200]}, salt=UPLOAD_SALT, compress=True)
    return base_url + reverse("artifact_upload", args=[token])


def download_url(base_url: str, *, digest: str, name: str, user_id: int, entity_id: int) -> str:
    token = signing.dumps(
        {"d": digest, "n": name[-200:], "u": user_id, "e": entity_id}, salt=DOWNLOAD_SALT, compress=True
    )
    return base_url + reverse("artifact_download", args=[token])


def read_upload_token(token: str) -> dict:
    return signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)


def read_download_token(token: str) -> dict:
    return signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.LAUNCHUI_DOWNLOAD_URL_MAX_AGE)
