"""Settings, read from the environment (and `.env` when present) and validated at start-up.

This is the only module that reads the environment. Every setting is documented in README.md.

The settings are declared once, as a marshmallow schema: each field names its variable, its
default and its validation, and marshmallow parses a whole mapping and reports every bad value.
Chosen over pydantic-settings and environs (measured, bench/startup_memory.py, 2026-12-05): the web
worker already sits at 118 MB of its 120 MB goal after a request mix, and importing
pydantic-settings adds 19 MB RSS and 0.13 s to start-up, where marshmallow is already loaded by
flask-smorest (0 MB); environs is marshmallow plus reading `os.environ` only, while the tests,
benchmarks and `test_settings` validate a given mapping.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from dotenv import load_dotenv
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from webapp.config_fields import (
    CommaList,
    Days,
    PrivateKey,
    Text,
    fernet_keys,
    flag,
    networks,
    no_trailing_slash,
    one_of,
    outlives_redelivery,
    whole_number,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

STRICT_ENVIRONMENTS = ("production", "staging")  # held to production's rules
WEAK_SECRETS = {"", "changeme", "secret", "dev", "development", "please-change-me"}
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message is one line saying which and why."""


class SettingsSchema(Schema):
    """Every environment variable Gantry reads, with its default and its check (README's settings table).

    A blank variable counts as unset, except where `metadata={"blank": True}` says blank means something.
    """

    class Meta:
        unknown = EXCLUDE

    # staging is held to production's rules (keys, cookies, HSTS) and says its own name in logs.
    ENVIRONMENT = Text(load_default="development", transform=str.lower,
                       validate=one_of(["development", "staging", "production"]))
    SECRET_KEY = Text(load_default="", strip=False)
    ENCRYPTION_KEYS = CommaList(validate=fernet_keys)
    DATABASE_URL = Text(load_default=None)
    REDIS_URL = Text(load_default="redis://127.0.0.1:6379/0")
    BASE_URL = Text(load_default="http://127.0.0.1:5000", transform=no_trailing_slash)
    LOG_LEVEL = Text(load_default="INFO", transform=str.upper,
                     validate=one_of(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]))
    LOG_FORMAT = Text(load_default=None, transform=str.lower, validate=one_of(["json", "text"]))
    CORS_ORIGINS = CommaList()
    # Cross-origin browsers may send cookies and these methods and headers (the API and /compat/).
    CORS_ALLOW_CREDENTIALS = flag(False)
    CORS_ALLOW_METHODS = CommaList(load_default=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    CORS_ALLOW_HEADERS = CommaList(load_default=lambda: ["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"])
    # The database connection pool (PostgreSQL); DB_ECHO logs every statement, development only.
    DB_POOL_SIZE = whole_number(5)
    DB_MAX_OVERFLOW = whole_number(10)
    DB_POOL_RECYCLE = whole_number(3600)
    DB_POOL_TIMEOUT = whole_number(30)
    DB_ECHO = flag(False)
    # Static API keys for CI (comma-separated), kept only as hashes, acting as one service user with
    # read and builds:write; refused in production and staging unless explicitly allowed.
    API_KEYS = CommaList()
    API_KEYS_ALLOWED_IN_PRODUCTION = flag(False)
    METRICS_TOKEN = Text(load_default="")
    # Reverse proxies in front of Gantry whose X-Forwarded-For/-Proto/-Host are believed (0: none).
    TRUSTED_PROXIES = whole_number(0)
    RATELIMIT_LOGIN = Text(load_default="10 per minute")
    RATELIMIT_ENABLED = flag(True)
    PASSWORD_HASH_METHOD = Text(load_default="scrypt")
    JOB_TIMEOUT = whole_number(300)
    ACCESS_TOKEN_MINUTES = whole_number(15)
    REFRESH_TOKEN_DAYS = whole_number(7)
    # Releases
    RELEASES_APPROVAL_HOURS = whole_number(72)
    RELEASES_TAG_PREFIX = Text(load_default="v", metadata={"blank": True})
    # Webhook intake
    WEBHOOK_MAX_ATTEMPTS = whole_number(5)
    WEBHOOK_SWEEP_AFTER_SECONDS = whole_number(120)
    WEBHOOK_REDELIVERY_MAX_ATTEMPTS = whole_number(3)
    WEBHOOK_REDELIVERY_LOOKBACK_HOURS = whole_number(72)  # GitHub keeps 72 hours of its delivery log: capped below
    # Builds
    BUILDS_DASHBOARD_CACHE_SECONDS = whole_number(60)
    # Sandbox mode: "1" on, "0" off; unset, `make run` turns it on when neither GitHub nor AWS is configured.
    SANDBOX = Text(load_default="0", validate=one_of(["0", "1"]))
    # Runners on AWS ECS
    AWS_ENDPOINT_URL = Text(load_default="")
    AWS_REGION = Text(load_default="us-east-1")
    RUNNERS_SSM_PREFIX = Text(load_default="/gantry/runners", transform=lambda text: "/" + text.strip("/"))
    RUNNERS_SSM_KMS_KEY_ID = Text(load_default="")
    RUNNERS_REQUEUE_AFTER_SECONDS = whole_number(300)
    RUNNERS_LAUNCH_MAX_ATTEMPTS = whole_number(5)
    # Defaults for a runner pool that names no ECS launch settings of its own.
    ECS_CLUSTER = Text(load_default="")
    ECS_TASK_DEFINITION = Text(load_default="")
    ECS_SUBNETS = CommaList()
    ECS_SECURITY_GROUPS = CommaList()
    ECS_LAUNCH_TYPE = Text(load_default="FARGATE", transform=str.upper, validate=one_of(["FARGATE", "EC2"]))
    # Project sync
    SYNC_WRITES_PER_MINUTE = whole_number(80)
    SYNC_WRITES_PER_HOUR = whole_number(500)
    SYNC_MAX_FILE_BYTES = whole_number(100 * 1024 * 1024)
    SYNC_INLINE_MAX_BYTES = whole_number(256 * 1024)
    SYNC_REF_RETRIES = whole_number(3)
    SYNC_RETRY_JITTER_MS = whole_number(1000)
    SYNC_LOCK_SECONDS = whole_number(900)
    # GitHub connection: base URLs (GitHub Enterprise Server works) and App settings that override
    # what the App-manifest flow stored in the database.
    GITHUB_URL = Text(load_default="https://github.com", transform=no_trailing_slash)
    GITHUB_API_URL = Text(load_default="https://api.github.com", transform=no_trailing_slash)
    GITHUB_APP_ID = Text(load_default=None)
    GITHUB_APP_SLUG = Text(load_default=None)
    GITHUB_APP_PRIVATE_KEY = PrivateKey(load_default=None)
    GITHUB_CLIENT_ID = Text(load_default=None)
    GITHUB_CLIENT_SECRET = Text(load_default=None)
    # Which kind of OAuth client GITHUB_CLIENT_ID is: "app" (the GitHub App's own) or "oauth_app" (a
    # classic OAuth App); unset, a client id starting "Iv" is an App's. Scopes apply to the classic kind.
    GITHUB_OAUTH_CLIENT_KIND = Text(load_default=None, transform=str.lower, validate=one_of(["app", "oauth_app"]))
    GITHUB_OAUTH_SCOPES = Text(load_default="read:user user:email read:org repo admin:repo_hook")
    # OAuth for API clients and front ends: where a front end lives (its sign-in lands there) and how
    # long a sign-in's state (and a front end's one-time code) stays usable.
    FRONTEND_URL = Text(load_default="", transform=no_trailing_slash)
    OAUTH_STATE_TTL_SECONDS = whole_number(600)
    GITHUB_WEBHOOK_SECRET = Text(load_default=None)
    GITHUB_ALLOWED_ORGS = CommaList(lower=True)
    GITHUB_ADMIN_LOGINS = CommaList(lower=True)
    GITHUB_TIMEOUT = whole_number(10)
    GITHUB_MAX_INLINE_WAIT = whole_number(3)
    # Event forwarding: outbound timeouts, SSRF allow-list, retry caps and log retention.
    FORWARDING_ALLOW_HTTP = flag(False)
    FORWARDING_ALLOWED_HOSTS = CommaList(lower=True)
    FORWARDING_ALLOWED_CIDRS = CommaList(validate=networks)
    FORWARDING_CONNECT_TIMEOUT = whole_number(5)
    FORWARDING_TOTAL_TIMEOUT = whole_number(15)
    FORWARDING_RETRY_AFTER_MAX = whole_number(3600)
    FORWARDING_DISABLE_AFTER_HOURS = whole_number(120)
    FORWARDING_RETENTION_DAYS = Days(30)
    FORWARDING_CA_BUNDLE = Text(load_default=None)
    # Retention: how long grown data is kept before the hourly purge removes it (0 or blank: forever).
    RETENTION_DELIVERY_PAYLOAD_DAYS = Days(30)
    RETENTION_DELIVERY_DAYS = Days(90, validate=outlives_redelivery)
    RETENTION_RUNNER_DAYS = Days(180)
    RETENTION_BUILD_DAYS = Days(None)
    RETENTION_SYNC_DAYS = Days(180)
    RETENTION_AUDIT_DAYS = Days(None)
    RETENTION_BATCH_SIZE = fields.Integer(load_default=1000, validate=validate.Range(min=1, error="must be at least 1"))
    RETENTION_MAX_SECONDS = fields.Integer(load_default=900, validate=validate.Range(min=1, error="must be at least 1"))
    RETENTION_BATCH_PAUSE_MS = fields.Integer(load_default=50,
                                              validate=validate.Range(min=0, max=60_000, error="must be 0 to 60000"))

    @pre_load
    def drop_blanks(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Keep only our variables, and treat a blank one as unset unless blank means something."""
        return {
            name: data[name] for name, field in self.fields.items()
            if name in data and (field.metadata.get("blank") or str(data[name]).strip())
        }


SETTINGS_SCHEMA = SettingsSchema()


def read_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The variables of `env` parsed and checked; every bad one is named in one line of ConfigError."""
    try:
        return SETTINGS_SCHEMA.load(env)
    except ValidationError as error:
        problems = error.normalized_messages()
        raise ConfigError("; ".join(
            f"{name} {message}" for name, messages in problems.items() for message in messages
        )) from None


def _persisted_secret(name: str, make: Callable[[], str], instance_dir: Path) -> str:
    """A development secret generated once and kept under instance/ so restarts keep sessions."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _keys(secret_key: str, encryption_keys: list[str], production: bool, instance_dir: Path) -> tuple[str, list[str]]:
    """Production demands strong keys; development generates missing ones once under instance/."""
    if production:
        if secret_key in WEAK_SECRETS or len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < 10:
            raise ConfigError(
                f"SECRET_KEY is missing or weak: set at least {MIN_SECRET_KEY_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if not encryption_keys:
            raise ConfigError("ENCRYPTION_KEYS is required in production (comma-separated Fernet keys)")
        return secret_key, encryption_keys
    if not secret_key:
        secret_key = _persisted_secret("secret_key", lambda: secrets.token_urlsafe(48), instance_dir)
    if not encryption_keys:
        encryption_keys = [_persisted_secret("encryption_key", lambda: Fernet.generate_key().decode(), instance_dir)]
    return secret_key, encryption_keys


def _check_strict(settings: dict[str, Any], production: bool) -> None:
    """Settings that are fine on a laptop and unsafe where real users and data are."""
    name = settings["ENVIRONMENT"]
    if production and settings["API_KEYS"] and not settings["API_KEYS_ALLOWED_IN_PRODUCTION"]:
        raise ConfigError(f"API_KEYS gives static keys that never expire: refused in {name} unless "
                          "API_KEYS_ALLOWED_IN_PRODUCTION=true (prefer per-pipeline keys: flask api-key create)")
    if production and settings["DB_ECHO"]:
        raise ConfigError(f"DB_ECHO logs every SQL statement with its values: development only, not {name}")
    if settings["CORS_ALLOW_CREDENTIALS"] and "*" in settings["CORS_ORIGINS"]:
        raise ConfigError("CORS_ALLOW_CREDENTIALS=true needs CORS_ORIGINS to name origins, not '*'")


def _engine_options(settings: dict[str, Any], database_url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"pool_pre_ping": True}
    if not database_url.startswith("sqlite"):  # SQLite's pools take no size or overflow
        options.update(pool_size=settings["DB_POOL_SIZE"], max_overflow=settings["DB_MAX_OVERFLOW"],
                       pool_recycle=settings["DB_POOL_RECYCLE"], pool_timeout=settings["DB_POOL_TIMEOUT"])
    return options


def load_settings(env: Mapping[str, str] | None = None, instance_dir: Path | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables, failing fast on unsafe production values.

    `instance_dir` (default: instance/ in the project) holds the development keys and SQLite file.
    """
    instance_dir = instance_dir or INSTANCE_DIR
    if env is None:
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        env = os.environ
    settings = read_environment(env)
    settings["SANDBOX"] = settings["SANDBOX"] == "1"
    production = settings["ENVIRONMENT"] in STRICT_ENVIRONMENTS
    if production and settings["SANDBOX"]:
        raise ConfigError(f"SANDBOX=1 puts simulated GitHub and AWS in place of real ones: refused in "
                          f"{settings['ENVIRONMENT']}")
    settings["SECRET_KEY"], settings["ENCRYPTION_KEYS"] = _keys(
        settings["SECRET_KEY"], settings["ENCRYPTION_KEYS"], production, instance_dir
    )
    database_url = settings.pop("DATABASE_URL") or f"sqlite:///{instance_dir / 'gantry.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("sqlite:///") and not production:
        instance_dir.mkdir(parents=True, exist_ok=True)
    _check_strict(settings, production)
    settings["API_KEY_HASHES"] = [hashlib.sha256(key.encode()).hexdigest() for key in settings.pop("API_KEYS")]
    settings.update({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(settings, database_url),
        "SQLALCHEMY_ECHO": settings["DB_ECHO"],
        "LOG_FORMAT": settings["LOG_FORMAT"] or ("json" if production else "text"),
        "WEBHOOK_REDELIVERY_LOOKBACK_HOURS": min(settings["WEBHOOK_REDELIVERY_LOOKBACK_HOURS"], 72),
        "FORWARDING_CONNECT_TIMEOUT": float(settings["FORWARDING_CONNECT_TIMEOUT"]),
        "FORWARDING_TOTAL_TIMEOUT": float(settings["FORWARDING_TOTAL_TIMEOUT"]),
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
    })
    settings.update(_api_settings())
    return settings
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
