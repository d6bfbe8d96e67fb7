"""Environment parsing that fails loudly: a typo in production config must stop start-up."""

import base64
import binascii
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured, ValidationError

from launchui.core import user_data


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of choices, compared case-insensitively and returned as spelled in choices."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    for choice in choices:
        if raw.strip().lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name}={raw!r} is not one of {', '.join(choices)}")


def env_fernet_key(name: str) -> str:
    """A Fernet key (32 bytes, url-safe base64) or empty; checked now rather than at the first decryption."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    try:
        valid = len(base64.urlsafe_b64decode(raw.encode())) == 32
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ImproperlyConfigured(
            f"{name} is not a Fernet key (32 url-safe base64-encoded bytes); make one with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data directory."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def env_json_object(name: str) -> dict:
    """A JSON object from the environment ({} when unset)."""
    import json

    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from None
    try:
        return user_data.require_object(value, name)
    except ValidationError as exc:
        raise ImproperlyConfigured(exc.messages[0]) from None


def env_git_hosts(name: str) -> list[tuple[str, object, int | None]]:
    """Internal git servers builds may reach: comma-separated host names, IP addresses or CIDR networks,
    each with an optional :port ("git.internal", "10.0.0.0/8", "10.1.2.3:22", "[fd00::1]:443").
    Returns [("host", name, port) or ("network", ip_network, port)]."""
    import ipaddress
    import re

    entries: list[tuple[str, object, int | None]] = []
    for raw in env_list(name, []):
        text, port = raw.lower(), None
        if text.startswith("["):  # [v6 address or network]:port
            inner, _, rest = text[1:].partition("]")
            text, port_text = inner, rest.removeprefix(":") if rest.startswith(":") else None
            if rest and port_text is None:
                raise ImproperlyConfigured(f"{name}: {raw!r} is not [address]:port")
        elif text.count(":") == 1:
            text, port_text = text.split(":")
        else:
            port_text = None
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ImproperlyConfigured(f"{name}: {raw!r} has no valid port")
            port = int(port_text)
        try:
            entries.append(("network", ipaddress.ip_network(text, strict=False), port))
            continue
        except ValueError:
            pass
        if not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?", text):
            raise ImproperlyConfigured(f"{name}: {raw!r} is not a host name, IP address or CIDR network")
        entries.append(("host", text.rstrip("."), port))
    return entries
