import pytest

from tests.web.conftest import PLAIN_STATIC
from tests.wire.conftest import start_agent, wandb_env  # noqa: F401  (the real-client fixtures, for browser tests)


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures
    settings.STORAGES = PLAIN_STATIC
