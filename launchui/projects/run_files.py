"""Where a run's files are stored, and their self-authenticating transfer URLs.

The wandb client PUTs run files and GETs them back with no credentials, so each URL carries a signed,
expiring token naming exactly one run and file name. A download token also names its holder and the
entity that owns the run: it works only while the holder is still a member (as artifact downloads do).
"""

import hashlib

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

UPLOAD_SALT = "launchui.projects.runfile.upload"
DOWNLOAD_SALT = "launchui.projects.runfile.download"
UPLOAD_MAX_AGE = 24 * 3600  # the client uploads a run's files when it finishes, which may be hours later


def storage_key(run_id: int, name: str) -> str:
    """One stored file per (run, name): a re-upload replaces it. The name is hashed: it is the client's."""
    return f"runfiles/{run_id}/{hashlib.sha256(name.encode()).hexdigest()}"


def upload_url(base_url: str, *, run_id: int, name: str) -> str:
    token = signing.dumps({"r": run_id, "n": name}, salt=UPLOAD_SALT, compress=True)
    return base_url + reverse("run_file_upload", args=[token])


def download_url(base_url: str, *, run_id: int, name: str, user_id: int, entity_id: int) -> str:
    token = signing.dumps({"r": run_id, "n": name, "u": user_id, "e": entity_id}, salt=DOWNLOAD_SALT, compress=True)
    return base_url + reverse("run_file_download", args=[token])


def read_upload_token(token: str) -> dict:
    return signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)


def read_download_token(token: str) -> dict:
    return signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.LAUNCHUI_DOWNLOAD_URL_MAX_AGE)


def open_file(key: str):
    return default_storage.open(key, "rb")


def delete_files(keys: list[str]) -> None:
    for key in keys:
        default_storage.delete(key)
