"""Configuration fails loudly: a malformed value stops start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from launchui.env import env_bool, env_choice, env_fernet_key, env_int, env_json_object, env_list, env_str, secret_key

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1", True),
        ("true", True),
        ("True", True),
        (" YES ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_env_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("DEBUG", raw)
    assert env_bool("DEBUG", not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "tru"])
def test_env_bool_refuses_anything_else(monkeypatch, raw):
    monkeypatch.setenv("DEBUG", raw)
    with pytest.raises(ImproperlyConfigured, match=rf"DEBUG='{raw}' is not a boolean"):
        env_bool("DEBUG", False)


def test_unset_or_empty_values_take_the_default(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.setenv("LAUNCHUI_PAGE_SIZE", "")
    assert env_bool("DEBUG", True) is True
    assert env_int("LAUNCHUI_PAGE_SIZE", 50, minimum=1) == 50


def test_env_int_parses_whole_numbers(monkeypatch):
    monkeypatch.setenv("LAUNCHUI_AGENT_OFFLINE_AFTER", "90")
    assert env_int("LAUNCHUI_AGENT_OFFLINE_AFTER", 60, minimum=1) == 90


@pytest.mark.parametrize("raw", ["abc", "1.5", "60s", "1e3"])
def test_env_int_refuses_non_numbers(monkeypatch, raw):
    monkeypatch.setenv("LAUNCHUI_AGENT_OFFLINE_AFTER", raw)
    with pytest.raises(ImproperlyConfigured, match=r"LAUNCHUI_AGENT_OFFLINE_AFTER=.* is not a whole number"):
        env_int("LAUNCHUI_AGENT_OFFLINE_AFTER", 60, minimum=1)


@pytest.mark.parametrize(
    "name, raw, minimum",
    [
        ("LAUNCHUI_LEASE_SECONDS", "-5", 1),
        ("LAUNCHUI_LEASE_SECONDS", "0", 1),
        ("DATABASE_CONN_MAX_AGE", "-1", 0),
    ],
)
def test_env_int_refuses_values_below_the_minimum(monkeypatch, name, raw, minimum):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"{name}='{raw}' must be at least {minimum}"):
        env_int(name, 60, minimum=minimum)


def test_env_choice_is_case_insensitive_and_refuses_unknown_values(monkeypatch):
    levels = ("DEBUG", "INFO", "WARNING")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert env_choice("LOG_LEVEL", "INFO", levels) == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL='loud' is not one of DEBUG, INFO, WARNING"):
        env_choice("LOG_LEVEL", "INFO", levels)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " launch.example.com, ,10.0.0.5 ,")
    assert env_list("ALLOWED_HOSTS", ["localhost"]) == ["launch.example.com", "10.0.0.5"]
    monkeypatch.setenv("ALLOWED_HOSTS", "  ")
    assert env_list("ALLOWED_HOSTS", ["localhost"]) == ["localhost"]


def test_env_str_default(monkeypatch):
    monkeypatch.delenv("LAUNCHUI_BASE_URL", raising=False)
    assert env_str("LAUNCHUI_BASE_URL", "x") == "x"


def test_secret_key_is_generated_once_and_kept_private(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = secret_key(tmp_path / "data")
    assert len(first) >= 50
    assert secret_key(tmp_path / "data") == first
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert secret_key(tmp_path / "data") == "from-the-environment"


def _manage_check(tmp_path, **env):
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "LOG_LEVEL")
    }
    environ.update(LAUNCHUI_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="launchui.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("url", ["postgres://launchui@db:notaport/launchui", "postgress://db/launchui"])
def test_manage_py_stops_on_a_malformed_database_url(tmp_path, url):
    result = _manage_check(tmp_path, DATABASE_URL=url)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL is malformed" in result.stderr


def test_manage_py_stops_on_a_malformed_boolean(tmp_path):
    result = _manage_check(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG='maybe' is not a boolean: use true or false" in result.stderr


def test_manage_py_check_passes_with_the_defaults(tmp_path):
    result = _manage_check(tmp_path)
    assert result.returncode == 0, result.stderr
    # The defaults keep everything in the data directory: SQLite, the broker's folders, the secret key.
    assert (tmp_path / "secret_key").exists()
    assert {p.name for p in (tmp_path / "broker").iterdir()} == {"in", "processed", "control"}


def test_env_fernet_key(monkeypatch):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("LAUNCHUI_ENCRYPTION_KEY", key)
    assert env_fernet_key("LAUNCHUI_ENCRYPTION_KEY") == key
    monkeypatch.setenv("LAUNCHUI_ENCRYPTION_KEY", "")
    assert env_fernet_key("LAUNCHUI_ENCRYPTION_KEY") == ""
    for bad in ("my-secret-passphrase", key[:-4], "!!!!"):
        monkeypatch.setenv("LAUNCHUI_ENCRYPTION_KEY", bad)
        with pytest.raises(ImproperlyConfigured, match="LAUNCHUI_ENCRYPTION_KEY is not a Fernet key"):
            env_fernet_key("LAUNCHUI_ENCRYPTION_KEY")


def test_env_json_object_parses_objects_and_refuses_the_rest(monkeypatch):
    monkeypatch.delenv("LAUNCHUI_STORAGE_OPTIONS", raising=False)
    assert env_json_object("LAUNCHUI_STORAGE_OPTIONS") == {}
    monkeypatch.setenv("LAUNCHUI_STORAGE_OPTIONS", '{"bucket_name": "b"}')
    assert env_json_object("LAUNCHUI_STORAGE_OPTIONS") == {"bucket_name": "b"}
    for raw, message in (("[1]", "must be a JSON object"), ("{bad", "is not valid JSON")):
        monkeypatch.setenv("LAUNCHUI_STORAGE_OPTIONS", raw)
        with pytest.raises(ImproperlyConfigured, match=message):
            env_json_object("LAUNCHUI_STORAGE_OPTIONS")


def _settings_in_subprocess(tmp_path, names: list[str], **env) -> dict:
    """The given settings as a fresh process computes them from the environment."""
    import json

    environ = {k: v for k, v in os.environ.items() if k not in ("BEHIND_TLS_PROXY", "SECURE_HSTS_SECONDS")}
    environ.update(LAUNCHUI_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="launchui.settings", **env)
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: str(getattr(settings, n, None)) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hsts_is_sent_behind_the_tls_proxy_only(tmp_path):
    names = ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER"]
    plain = _settings_in_subprocess(tmp_path, names)
    assert plain["SECURE_HSTS_SECONDS"] == "0" and plain["SECURE_PROXY_SSL_HEADER"] == "None"
    proxied = _settings_in_subprocess(tmp_path, names, BEHIND_TLS_PROXY="true")
    assert proxied == {
        "SECURE_HSTS_SECONDS": str(365 * 24 * 3600),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "False",
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
    }
    tuned = _settings_in_subprocess(
        tmp_path, names, BEHIND_TLS_PROXY="true", SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="true"
    )
    assert tuned["SECURE_HSTS_SECONDS"] == "600" and tuned["SECURE_HSTS_INCLUDE_SUBDOMAINS"] == "True"


@pytest.mark.django_db
def test_hsts_header_on_requests_that_came_through_the_tls_proxy(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    assert client.get("/login", HTTP_X_FORWARDED_PROTO="https")["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login")  # plain HTTP: browsers ignore it anyway


def test_login_lockout_and_download_url_settings_come_from_the_environment(tmp_path):
    names = ["AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "LAUNCHUI_DOWNLOAD_URL_MAX_AGE"]
    assert _settings_in_subprocess(tmp_path, names) == {
        "AXES_FAILURE_LIMIT": "5",
        "AXES_COOLOFF_TIME": "0:15:00",
        "LAUNCHUI_DOWNLOAD_URL_MAX_AGE": "300",
    }
    assert _settings_in_subprocess(
        tmp_path,
        names,
        LAUNCHUI_LOGIN_FAILURE_LIMIT="10",
        LAUNCHUI_LOGIN_COOLOFF="60",
        LAUNCHUI_DOWNLOAD_URL_MAX_AGE="120",
    ) == {"AXES_FAILURE_LIMIT": "10", "AXES_COOLOFF_TIME": "0:01:00", "LAUNCHUI_DOWNLOAD_URL_MAX_AGE": "120"}
    result = _manage_check(tmp_path, LAUNCHUI_LOGIN_FAILURE_LIMIT="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured: LAUNCHUI_LOGIN_FAILURE_LIMIT='0' must be at least 1" in result.stderr


def _database_settings(tmp_path, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    environ.update(LAUNCHUI_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="launchui.settings", **env)
    code = (
        "import json; from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps({'options': d.get('OPTIONS', {}), 'conn_max_age': d['CONN_MAX_AGE']}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def test_prepared_statements_and_the_pool_are_database_options_from_the_environment(tmp_path):
    url = "postgres://launchui@db:5432/launchui"
    default = _database_settings(tmp_path, DATABASE_URL=url)
    assert default["options"]["server_side_binding"] is True and default["options"]["prepare_threshold"] == 2
    assert "pool" not in default["options"] and default["conn_max_age"] == 60
    behind_old_pgbouncer = _database_settings(tmp_path, DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="false")
    assert "server_side_binding" not in behind_old_pgbouncer["options"]
    tuned = _database_settings(tmp_path, DATABASE_URL=url, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="4")
    assert tuned["options"]["pool"] == {"min_size": 1, "max_size": 4}
    assert tuned["conn_max_age"] == 0  # Django refuses a pool beside persistent connections
