"""Settings: safe production start-up, development keys kept under instance/, key rotation."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from webapp.config import ConfigError, load_settings
from webapp.core.crypto import Crypto

STRONG_SECRET = "Zq8-vLr2_Yp0TnWm4KcX7sHd1JfGa9Bu-3eRiOo"
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def production(**env: str) -> dict[str, str]:
    return {"ENVIRONMENT": "production", "SECRET_KEY": STRONG_SECRET, "ENCRYPTION_KEYS": KEY_A, **env}


def test_production_with_good_keys_starts(tmp_path):
    settings = load_settings(production(DATABASE_URL="postgres://u@db/gantry"), instance_dir=tmp_path)
    assert settings["ENVIRONMENT"] == "production"
    assert settings["SECRET_KEY"] == STRONG_SECRET
    assert settings["ENCRYPTION_KEYS"] == [KEY_A]
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql://u@db/gantry"
    assert settings["LOG_FORMAT"] == "json" and settings["SESSION_COOKIE_SECURE"] is True
    assert list(tmp_path.iterdir()) == []  # production never writes keys to disk


@pytest.mark.parametrize(("env", "names"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "changeme"}, "SECRET_KEY"),
    ({"SECRET_KEY": "short-but-random-9f3"}, "SECRET_KEY"),
    ({"SECRET_KEY": "a" * 64}, "SECRET_KEY"),
    ({"ENCRYPTION_KEYS": ""}, "ENCRYPTION_KEYS"),
    ({"ENCRYPTION_KEYS": "not-a-fernet-key"}, "ENCRYPTION_KEYS"),
    ({"ENCRYPTION_KEYS": f"{KEY_A},broken"}, "ENCRYPTION_KEYS"),
    ({"ENVIRONMENT": "qa"}, "ENVIRONMENT"),
    ({"JOB_TIMEOUT": "five minutes"}, "JOB_TIMEOUT"),
    ({"GITHUB_OAUTH_CLIENT_KIND": "github"}, "GITHUB_OAUTH_CLIENT_KIND"),
])
def test_unsafe_or_broken_settings_stop_start_up_with_one_line(tmp_path, env, names):
    with pytest.raises(ConfigError) as caught:
        load_settings(production(**env), instance_dir=tmp_path)
    message = str(caught.value)
    assert names in message
    assert "\n" not in message and len(message) < 300
    assert STRONG_SECRET not in message


def test_production_start_up_fails_through_create_app(monkeypatch):
    from webapp import create_app

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    monkeypatch.setenv("ENCRYPTION_KEYS", KEY_A)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_development_generates_keys_once_and_keeps_them(tmp_path):
    first = load_settings({"ENVIRONMENT": "development"}, instance_dir=tmp_path)
    secret_file, key_file = tmp_path / "secret_key", tmp_path / "encryption_key"
    assert secret_file.read_text() == first["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 32
    assert key_file.read_text() == first["ENCRYPTION_KEYS"][0]
    Fernet(first["ENCRYPTION_KEYS"][0].encode())  # a usable key
    for path in (secret_file, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_settings({"ENVIRONMENT": "development"}, instance_dir=tmp_path)
    assert (second["SECRET_KEY"], second["ENCRYPTION_KEYS"]) == (first["SECRET_KEY"], first["ENCRYPTION_KEYS"])
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'gantry.db'}"


def test_development_uses_given_keys_and_writes_nothing(tmp_path):
    settings = load_settings({"SECRET_KEY": "dev", "ENCRYPTION_KEYS": KEY_B, "DATABASE_URL": "postgresql://x/y"},
                             instance_dir=tmp_path)
    assert settings["SECRET_KEY"] == "dev" and settings["ENCRYPTION_KEYS"] == [KEY_B]
    assert list(tmp_path.iterdir()) == []


def test_defaults_and_lists(tmp_path):
    settings = load_settings({"CORS_ORIGINS": " https://a.example , https://b.example,", "LOG_LEVEL": "debug",
                              "BASE_URL": "https://gantry.example/"}, instance_dir=tmp_path)
    assert settings["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert settings["LOG_LEVEL"] == "DEBUG" and settings["LOG_FORMAT"] == "text"
    assert settings["BASE_URL"] == "https://gantry.example"
    assert settings["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["ENVIRONMENT"] == "development"
    assert settings["GITHUB_OAUTH_CLIENT_KIND"] is None  # detected from the client id
    assert settings["GITHUB_OAUTH_SCOPES"] == "read:user user:email read:org repo admin:repo_hook"
    assert settings["FRONTEND_URL"] == "" and settings["OAUTH_STATE_TTL_SECONDS"] == 600


# --- key rotation --------------------------------------------------------------------------


def test_rotation_old_key_still_decrypts_new_key_encrypts(tmp_path):
    old = Crypto(load_settings(production(ENCRYPTION_KEYS=KEY_A), instance_dir=tmp_path)["ENCRYPTION_KEYS"])
    stored = old.encrypt("github-app-private-key")

    rotated = Crypto(load_settings(production(ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"), instance_dir=tmp_path)
                     ["ENCRYPTION_KEYS"])
    assert rotated.decrypt(stored) == "github-app-private-key"
    fresh = rotated.encrypt("webhook-secret")
    assert Crypto([KEY_B]).decrypt(fresh) == "webhook-secret"  # encrypted under the first key
    with pytest.raises(ValueError):
        Crypto([KEY_A]).decrypt(fresh)

    re_encrypted = rotated.rotate(stored)
    assert Crypto([KEY_B]).decrypt(re_encrypted) == "github-app-private-key"


def test_unknown_key_gives_a_clear_error():
    stored = Crypto([KEY_A]).encrypt("x")
    with pytest.raises(ValueError, match="ENCRYPTION_KEYS"):
        Crypto([KEY_B]).decrypt(stored)


def test_encrypted_column_stores_ciphertext(app, db):
    """EncryptedText writes Fernet tokens and reads plaintext back, through the app's key ring."""
    import sqlalchemy as sa

    from webapp.core.crypto import EncryptedText

    table = sa.Table("crypto_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("secret", EncryptedText()))
    with db.engine.begin() as conn:
        table.create(conn)
    try:
        with db.engine.begin() as conn:
            conn.execute(table.insert().values(id=1, secret="s3cret-value"))
            raw = conn.execute(sa.text("SELECT secret FROM crypto_probe")).scalar()
            assert "s3cret-value" not in raw and raw.startswith("gAAAA")
            assert conn.execute(sa.select(table.c.secret)).scalar() == "s3cret-value"
    finally:
        with db.engine.begin() as conn:
            table.drop(conn)


def test_token_helpers():
    from webapp.core.crypto import constant_time_equals, hash_token, new_token

    token = new_token("gty_")
    assert token.startswith("gty_") and len(token) > 40 and new_token("gty_") != token
    assert hash_token(token) == hash_token(token) and len(hash_token(token)) == 64
    assert constant_time_equals("abc", b"abc") and not constant_time_equals("abc", "abd")


# --- the declared settings ------------------------------------------------------------------


def test_every_bad_value_is_named_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings({"LOG_LEVEL": "loud", "RATELIMIT_ENABLED": "maybe", "GITHUB_TIMEOUT": "10s"},
                      instance_dir=tmp_path)
    message = str(caught.value)
    assert "LOG_LEVEL must be" in message and "'LOUD'" in message
    assert "RATELIMIT_ENABLED must be true or false, got 'maybe'" in message
    assert "GITHUB_TIMEOUT must be a whole number, got '10s'" in message
    assert "\n" not in message


def test_blank_means_unset_except_where_blank_means_something(tmp_path):
    settings = load_settings({"JOB_TIMEOUT": "", "AWS_REGION": "  ", "GITHUB_APP_ID": "", "RELEASES_TAG_PREFIX": "",
                              "RUNNERS_SSM_PREFIX": "gantry/eu/", "WEBHOOK_REDELIVERY_LOOKBACK_HOURS": "100",
                              "FORWARDING_CONNECT_TIMEOUT": "7", "GITHUB_ALLOWED_ORGS": "Acme, ,Other"},
                             instance_dir=tmp_path)
    assert settings["JOB_TIMEOUT"] == 300 and settings["AWS_REGION"] == "us-east-1"
    assert settings["GITHUB_APP_ID"] is None
    assert settings["RELEASES_TAG_PREFIX"] == ""  # tags without a prefix
    assert settings["RUNNERS_SSM_PREFIX"] == "/gantry/eu"
    assert settings["WEBHOOK_REDELIVERY_LOOKBACK_HOURS"] == 72  # GitHub keeps no more
    assert settings["FORWARDING_CONNECT_TIMEOUT"] == 7.0
    assert settings["GITHUB_ALLOWED_ORGS"] == ["acme", "other"]
    assert "DATABASE_URL" not in settings


def test_readme_settings_table_lists_exactly_the_declared_settings():
    import re

    from webapp.config import PROJECT_ROOT, SettingsSchema

    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = {name for line in table.splitlines() if line.startswith("| `")
                  for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])}
    read_elsewhere = {"WEB_CONCURRENCY", "WEB_THREADS", "TEST_DATABASE_URL", "TEST_REDIS_URL"}  # gunicorn, tests
    assert documented - read_elsewhere == set(SettingsSchema().fields)
