"""Standard Webhooks signatures (and GitHub's X-Hub-Signature-256 for receivers built for GitHub).

Secrets look like `whsec_<base64>`; the HMAC key is the decoded bytes, as the Standard Webhooks
specification says. A secret in any other form is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except ValueError:
            pass
    return secret.encode()


def is_valid_secret(secret: str) -> bool:
    """At least 24 bytes of key material, in whsec_ form or as plain text."""
    return len(secret_key(secret)) >= 24


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret (two while a rotation's old secret is valid)."""
    return " ".join(standard_signature(s, message_id, timestamp, body) for s in secrets_in_use)


def github_signature(secret: str, body: bytes) -> str:
    """GitHub's `sha256=<hex HMAC of the body>`, keyed with the secret exactly as written."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
