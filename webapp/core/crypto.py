"""Encryption at rest (MultiFernet: the first key encrypts, every key decrypts) and token hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

EXTENSION_KEY = "gantry.crypto"


class Crypto:
    """Encrypts and decrypts secrets with the configured key ring."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with the configured ENCRYPTION_KEYS") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored value under the first (newest) key."""
        return self._fernet.rotate(token.encode()).decode()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = Crypto(app.config["ENCRYPTION_KEYS"])


def crypto() -> Crypto:
    return current_app.extensions[EXTENSION_KEY]


class EncryptedText(TypeDecorator[str]):
    """A column whose value is stored Fernet-encrypted and read back as plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else crypto().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else crypto().decrypt(value)


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy token (API keys, refresh tokens): enough, and indexable."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
