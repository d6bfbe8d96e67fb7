"""Bytes streamed into Django's storage with bounded memory, shared by artifact blobs and run files.

A body goes to a temporary file beside the stored files while it is counted and hashed, and becomes the
stored file in one step (a rename on the file system), so readers see no file or the whole file.
"""

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files import File
from django.core.files.storage import default_storage


class TooLarge(Exception):
    """More bytes than the caller's cap: nothing was stored."""


def staging_dir() -> str | None:
    """A folder beside the stored files when storage is the file system, so that the final move is a rename."""
    try:
        root = default_storage.path("")
    except NotImplementedError:
        return None
    staging = os.path.join(root, "tmp")
    os.makedirs(staging, exist_ok=True)
    return staging


def move_into_storage(temp_path: str, key: str, *, replace: bool = False) -> None:
    """The temporary file becomes the stored file `key`. With replace, an existing file is replaced;
    without, the first copy is kept (content-addressed keys hold the same bytes)."""
    try:
        final = default_storage.path(key)
    except NotImplementedError:  # a remote backend: its save is all-or-nothing
        if replace and default_storage.exists(key):
            default_storage.delete(key)
        with open(temp_path, "rb") as handle:
            saved = default_storage.save(key, File(handle))
        if saved != key:  # a concurrent upload won the key; keep one copy
            default_storage.delete(saved)
        return
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.chmod(temp_path, 0o644)
    # Atomic on one file system: readers see no file or the whole file.
    os.replace(temp_path, final)


@contextmanager
def staged(
    read, *, max_bytes: int, announced: int | None = None, chunk_size: int = 1024 * 1024
) -> Iterator[tuple[str, int, str]]:
    """The bytes read(chunk_size) yields until b"", in a temporary file beside the stored files: yields its
    path, their size and base64 md5, for the caller to check and move_into_storage(). The temporary file is
    gone afterwards either way. Raises TooLarge past max_bytes, before reading anything when the announced
    length (Content-Length) already is."""
    if announced is not None and announced > max_bytes:
        raise TooLarge(f"The file is larger than this server accepts ({max_bytes} bytes).")
    hasher = hashlib.md5()
    size = 0
    with tempfile.NamedTemporaryFile(dir=staging_dir(), prefix="upload-", delete=False) as temp:
        try:
            while chunk := read(chunk_size):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"The file is larger than this server accepts ({max_bytes} bytes).")
                hasher.update(chunk)
                temp.write(chunk)
            temp.flush()
            yield temp.name, size, base64.b64encode(hasher.digest()).decode()
        finally:
            if os.path.exists(temp.name):
                os.unlink(temp.name)


def save_stream(read, key: str, *, max_bytes: int, announced: int | None = None) -> tuple[int, str]:
    """Store the bytes read() yields as `key`, replacing any file there; returns their size and base64 md5.
    Raises TooLarge past max_bytes, with nothing stored."""
    with staged(read, max_bytes=max_bytes, announced=announced) as (path, size, digest):
        move_into_storage(path, key, replace=True)
    return size, digest
