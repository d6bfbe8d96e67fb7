import pytest

from tests.web.conftest import PLAIN_STATIC


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures
    settings.STORAGES = PLAIN_STATIC
