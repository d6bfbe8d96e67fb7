"""Fixtures for the page tests: plain static files (no collectstatic manifest). Queues and agents come from
tests/conftest.py."""

import pytest
from django.conf import settings

PLAIN_STATIC = {
    # Blobs (artifact files) under the test data dir, where a Celery worker started by the tests looks too.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(settings.DATA_DIR / "files")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures
    # Production serves hashed names from collectstatic's manifest; tests use the finders instead.
    settings.STORAGES = PLAIN_STATIC
