"""Encryption at rest for git credentials: Fernet, keyed by LAUNCHUI_ENCRYPTION_KEY or, when unset,
a key derived from SECRET_KEY (rotating SECRET_KEY then makes stored credentials unreadable)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    configured = getattr(settings, "LAUNCHUI_ENCRYPTION_KEY", "")
    if configured:
        return Fernet(configured.encode())
    derived = hashlib.sha256(b"launchui.git-credentials:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret: str) -> bytes:
    return _fernet().encrypt(secret.encode())


def decrypt(token: bytes | memoryview) -> str:
    try:
        return _fernet().decrypt(bytes(token)).decode()
    except InvalidToken:
        raise ValueError("The stored credential cannot be decrypted: was the encryption key changed?") from None
