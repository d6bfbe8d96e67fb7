"""Fixtures for the page tests: plain static files (no collectstatic manifest) and queue/agent builders."""

import pytest
from django.conf import settings

from launchui.launch.services import agent_register, queue_create

PLAIN_STATIC = {
    # Blobs (artifact files) under the test data dir, where a Celery worker started by the tests looks too.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(settings.DATA_DIR / "files")}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures
    # Production serves hashed names from collectstatic's manifest; tests use the finders instead.
    settings.STORAGES = PLAIN_STATIC


@pytest.fixture
def make_queue(owner):
    def make(entity, name, resource="local-container", **kwargs):
        return queue_create(entity=entity, name=name, resource=resource, created_by=owner, **kwargs)
    return make


@pytest.fixture
def queue(team, make_queue):
    return make_queue(team, "gpu-queue")


@pytest.fixture
def make_agent(owner):
    def make(queue, hostname="box-1"):
        return agent_register(entity=queue.entity, queues=[queue], hostname=hostname, config={"max_jobs": 1},
                              version="wandb@0.31.0", created_by=owner)
    return make
