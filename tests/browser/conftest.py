import pytest

from tests.web.conftest import PLAIN_STATIC


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    settings.STORAGES = PLAIN_STATIC
