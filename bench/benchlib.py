"""What the page benchmarks share: a fresh database of their own, and Django set up as production runs it
(DEBUG off, the cached template loader) but with static files from the finders, so no collectstatic
manifest is needed; the lookup costs the same."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse


def recreate_database(url: str, *, create: bool = True) -> None:
    """Drops the PostgreSQL database of `url` (never the test database: each bench names its own) and
    creates it empty again, unless create=False."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(
    database_url: str, *, data_dir_name: str = "launchui-bench", allowed_hosts: str = "testserver"
) -> Path:
    """Django on `database_url`; returns the data folder (LAUNCHUI_DATA_DIR, a temporary one by default)."""
    os.environ["DATABASE_URL"] = database_url
    data_dir = Path(os.environ.setdefault("LAUNCHUI_DATA_DIR", str(Path(tempfile.gettempdir()) / data_dir_name)))
    os.environ["ALLOWED_HOSTS"] = allowed_hosts
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "launchui.settings"
    import django
    from django.conf import settings

    django.setup()
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return data_dir
