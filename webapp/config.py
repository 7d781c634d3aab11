"""Settings, read from the environment (and `.env` when present) and validated at start-up.

This is the only module that reads the environment. Every setting is documented in README.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

WEAK_SECRETS = {"", "changeme", "secret", "dev", "development", "please-change-me"}
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message is one line saying which and why."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _persisted_secret(name: str, make: Any, instance_dir: Path) -> str:
    """A development secret generated once and kept under instance/ so restarts keep sessions."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    if path.exists():
        return path.read_text().strip()
    value = str(make())
    path.write_text(value)
    path.chmod(0o600)
    return value


def _check_fernet_keys(keys: list[str]) -> None:
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "ENCRYPTION_KEYS must be comma-separated Fernet keys "
                "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from exc


def load_settings(env: Mapping[str, str] | None = None, instance_dir: Path | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables, failing fast on unsafe production values.

    `instance_dir` (default: instance/ in the project) holds the development keys and SQLite file.
    """
    instance_dir = instance_dir or INSTANCE_DIR
    if env is None:
        try:
            from dotenv import load_dotenv

            load_dotenv(PROJECT_ROOT / ".env", override=False)
        except ImportError:  # pragma: no cover - python-dotenv is a hard requirement
            pass
        env = os.environ

    environment = env.get("ENVIRONMENT", "development").strip().lower()
    if environment not in {"development", "production"}:
        raise ConfigError(f"ENVIRONMENT must be 'development' or 'production', got {environment!r}")
    production = environment == "production"

    secret_key = env.get("SECRET_KEY", "")
    encryption_keys = _list(env.get("ENCRYPTION_KEYS"))
    if production:
        if secret_key in WEAK_SECRETS or len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < 10:
            raise ConfigError(
                f"SECRET_KEY is missing or weak: set at least {MIN_SECRET_KEY_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if not encryption_keys:
            raise ConfigError("ENCRYPTION_KEYS is required in production (comma-separated Fernet keys)")
    else:
        if not secret_key:
            secret_key = _persisted_secret("secret_key", lambda: secrets.token_urlsafe(48), instance_dir)
        if not encryption_keys:
            encryption_keys = [
                _persisted_secret("encryption_key", lambda: Fernet.generate_key().decode(), instance_dir)
            ]
    _check_fernet_keys(encryption_keys)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'gantry.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("sqlite:///") and not production:
        instance_dir.mkdir(parents=True, exist_ok=True)
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    base_url = env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")

    settings: dict[str, Any] = {
        "ENVIRONMENT": environment,
        "SECRET_KEY": secret_key,
        "ENCRYPTION_KEYS": encryption_keys,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "BASE_URL": base_url,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "LOG_FORMAT": env.get("LOG_FORMAT", "json" if production else "text"),
        "CORS_ORIGINS": _list(env.get("CORS_ORIGINS")),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        # Reverse proxies in front of Gantry whose X-Forwarded-For/-Proto/-Host are believed (0: none).
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "10 per minute"),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt"),
        "JOB_TIMEOUT": _int(env, "JOB_TIMEOUT", 300),
        "ACCESS_TOKEN_MINUTES": _int(env, "ACCESS_TOKEN_MINUTES", 15),
        "REFRESH_TOKEN_DAYS": _int(env, "REFRESH_TOKEN_DAYS", 7),
        # Releases
        "RELEASES_APPROVAL_HOURS": _int(env, "RELEASES_APPROVAL_HOURS", 72),
        "RELEASES_TAG_PREFIX": env.get("RELEASES_TAG_PREFIX", "v").strip(),
        # Webhook intake
        "WEBHOOK_MAX_ATTEMPTS": _int(env, "WEBHOOK_MAX_ATTEMPTS", 5),
        "WEBHOOK_SWEEP_AFTER_SECONDS": _int(env, "WEBHOOK_SWEEP_AFTER_SECONDS", 120),
        "WEBHOOK_REDELIVERY_MAX_ATTEMPTS": _int(env, "WEBHOOK_REDELIVERY_MAX_ATTEMPTS", 3),
        "WEBHOOK_REDELIVERY_LOOKBACK_HOURS": min(_int(env, "WEBHOOK_REDELIVERY_LOOKBACK_HOURS", 72), 72),
        # Builds
        "BUILDS_DASHBOARD_CACHE_SECONDS": _int(env, "BUILDS_DASHBOARD_CACHE_SECONDS", 60),
        # Runners on AWS ECS
        "AWS_ENDPOINT_URL": env.get("AWS_ENDPOINT_URL", "").strip(),
        "AWS_REGION": env.get("AWS_REGION", "us-east-1").strip() or "us-east-1",
        "RUNNERS_SSM_PREFIX": "/" + env.get("RUNNERS_SSM_PREFIX", "/gantry/runners").strip().strip("/"),
        "RUNNERS_SSM_KMS_KEY_ID": env.get("RUNNERS_SSM_KMS_KEY_ID", "").strip(),
        "RUNNERS_REQUEUE_AFTER_SECONDS": _int(env, "RUNNERS_REQUEUE_AFTER_SECONDS", 300),
        "RUNNERS_LAUNCH_MAX_ATTEMPTS": _int(env, "RUNNERS_LAUNCH_MAX_ATTEMPTS", 5),
        # Project sync
        "SYNC_WRITES_PER_MINUTE": _int(env, "SYNC_WRITES_PER_MINUTE", 80),
        "SYNC_WRITES_PER_HOUR": _int(env, "SYNC_WRITES_PER_HOUR", 500),
        "SYNC_MAX_FILE_BYTES": _int(env, "SYNC_MAX_FILE_BYTES", 100 * 1024 * 1024),
        "SYNC_INLINE_MAX_BYTES": _int(env, "SYNC_INLINE_MAX_BYTES", 256 * 1024),
        "SYNC_REF_RETRIES": _int(env, "SYNC_REF_RETRIES", 3),
        "SYNC_RETRY_JITTER_MS": _int(env, "SYNC_RETRY_JITTER_MS", 1000),
        "SYNC_LOCK_SECONDS": _int(env, "SYNC_LOCK_SECONDS", 900),
        # Flask / extension settings derived from ours
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "TESTING": False,
    }
    settings.update(_api_settings())
    settings.update(_forwarding_settings(env))
    settings.update(_github_settings(env))
    return settings


def _private_key(raw: str) -> str | None:
    """GITHUB_APP_PRIVATE_KEY holds the PEM itself or the path of a file holding it."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n") + ("\n" if not raw.endswith("\n") else "")
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"GITHUB_APP_PRIVATE_KEY is neither a PEM nor a readable file: {raw!r}")
    return path.read_text()


def _github_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """GitHub connection: base URLs (GitHub Enterprise Server works) and App settings that override
    what the App-manifest flow stored in the database."""
    return {
        "GITHUB_URL": env.get("GITHUB_URL", "https://github.com").rstrip("/"),
        "GITHUB_API_URL": env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        "GITHUB_APP_ID": env.get("GITHUB_APP_ID", "").strip() or None,
        "GITHUB_APP_SLUG": env.get("GITHUB_APP_SLUG", "").strip() or None,
        "GITHUB_APP_PRIVATE_KEY": _private_key(env.get("GITHUB_APP_PRIVATE_KEY", "")),
        "GITHUB_CLIENT_ID": env.get("GITHUB_CLIENT_ID", "").strip() or None,
        "GITHUB_CLIENT_SECRET": env.get("GITHUB_CLIENT_SECRET", "").strip() or None,
        "GITHUB_WEBHOOK_SECRET": env.get("GITHUB_WEBHOOK_SECRET", "").strip() or None,
        "GITHUB_ALLOWED_ORGS": [o.lower() for o in _list(env.get("GITHUB_ALLOWED_ORGS"))],
        "GITHUB_ADMIN_LOGINS": [o.lower() for o in _list(env.get("GITHUB_ADMIN_LOGINS"))],
        "GITHUB_TIMEOUT": _int(env, "GITHUB_TIMEOUT", 10),
        "GITHUB_MAX_INLINE_WAIT": _int(env, "GITHUB_MAX_INLINE_WAIT", 3),
    }


def _forwarding_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Event forwarding: outbound timeouts, SSRF allow-list, retry caps and log retention."""
    import ipaddress

    cidrs = _list(env.get("FORWARDING_ALLOWED_CIDRS"))
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ConfigError(f"FORWARDING_ALLOWED_CIDRS holds {cidr!r}, which is not an address or network") from exc
    return {
        "FORWARDING_ALLOW_HTTP": _bool(env.get("FORWARDING_ALLOW_HTTP"), False),
        "FORWARDING_ALLOWED_HOSTS": [h.lower() for h in _list(env.get("FORWARDING_ALLOWED_HOSTS"))],
        "FORWARDING_ALLOWED_CIDRS": cidrs,
        "FORWARDING_CONNECT_TIMEOUT": float(_int(env, "FORWARDING_CONNECT_TIMEOUT", 5)),
        "FORWARDING_TOTAL_TIMEOUT": float(_int(env, "FORWARDING_TOTAL_TIMEOUT", 15)),
        "FORWARDING_RETRY_AFTER_MAX": _int(env, "FORWARDING_RETRY_AFTER_MAX", 3600),
        "FORWARDING_DISABLE_AFTER_HOURS": _int(env, "FORWARDING_DISABLE_AFTER_HOURS", 120),
        "FORWARDING_RETENTION_DAYS": _int(env, "FORWARDING_RETENTION_DAYS", 30),
        "FORWARDING_CA_BUNDLE": env.get("FORWARDING_CA_BUNDLE", "").strip() or None,
    }


def _api_settings() -> dict[str, Any]:
    return {
        "API_TITLE": "Gantry API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
        "OPENAPI_REDOC_PATH": "/redoc",
        "OPENAPI_REDOC_URL": "/static/vendor/redoc/redoc.standalone.js",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Gantry's REST API. Authenticate with an API key or a bearer token."},
            "components": {
                "securitySchemes": {
                    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "BearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
        },
    }


def test_settings(database_url: str, redis_url: str) -> dict[str, Any]:
    """Settings for the test suite: real PostgreSQL and Redis, fixed keys, no cookies marked secure."""
    env = {
        "ENVIRONMENT": "development",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BASE_URL": "http://gantry.test",
        "LOG_LEVEL": "WARNING",
    }
    settings = load_settings(env)
    settings.update({
        "TESTING": True,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": 5},
    })
    return settings
