"""Settings the replaced systems' deployments carry over: staging, API_KEYS, the DB pool, CORS, ECS defaults."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest
from cryptography.fernet import Fernet

from webapp.config import ConfigError, load_settings

STRONG_SECRET = "Zq8-vLr2_Yp0TnWm4KcX7sHd1JfGa9Bu-3eRiOo"
KEY = Fernet.generate_key().decode()


def strict(environment: str, **env: str) -> dict[str, str]:
    return {"ENVIRONMENT": environment, "SECRET_KEY": STRONG_SECRET, "ENCRYPTION_KEYS": KEY,
            "DATABASE_URL": "postgresql://u@db/gantry", **env}


def test_staging_is_held_to_productions_rules(tmp_path: Any) -> None:
    settings = load_settings(strict("staging"), instance_dir=tmp_path)
    assert settings["ENVIRONMENT"] == "staging"
    assert settings["SESSION_COOKIE_SECURE"] and settings["PREFERRED_URL_SCHEME"] == "https"
    assert settings["LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"ENVIRONMENT": "staging", "ENCRYPTION_KEYS": KEY}, instance_dir=tmp_path)
    with pytest.raises(ConfigError, match="ENVIRONMENT must be"):
        load_settings(strict("qa"), instance_dir=tmp_path)


def test_staging_says_its_own_name_in_every_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    from webapp.core.logging import configure_logging

    configure_logging("INFO", "json", "staging")
    try:
        logging.getLogger("gantry.test").warning("hello")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(line)["environment"] == "staging"
    finally:
        configure_logging("WARNING", "text")


def test_api_keys_are_kept_only_as_hashes(tmp_path: Any) -> None:
    settings = load_settings({"API_KEYS": "dev-key-12345, prod-key-67890"}, instance_dir=tmp_path)
    assert settings["API_KEY_HASHES"] == [hashlib.sha256(b"dev-key-12345").hexdigest(),
                                          hashlib.sha256(b"prod-key-67890").hexdigest()]
    assert "dev-key-12345" not in repr(settings)


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_api_keys_are_refused_in_production_unless_allowed(tmp_path: Any, environment: str) -> None:
    with pytest.raises(ConfigError, match="API_KEYS_ALLOWED_IN_PRODUCTION"):
        load_settings(strict(environment, API_KEYS="prod-key-67890"), instance_dir=tmp_path)
    allowed = load_settings(strict(environment, API_KEYS="prod-key-67890", API_KEYS_ALLOWED_IN_PRODUCTION="true"),
                            instance_dir=tmp_path)
    assert len(allowed["API_KEY_HASHES"]) == 1


def test_api_keys_are_announced_without_the_keys(make_user: Any, caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import make_test_app

    with caplog.at_level(logging.WARNING, logger="webapp.auth.static_keys"):
        make_test_app(API_KEY_HASHES=[hashlib.sha256(b"dev-key-12345").hexdigest()])
    assert "1 static API key(s) accepted in development, acting as service user 'api-keys' with scopes " \
           "read,builds:write" in caplog.text
    assert "dev-key" not in caplog.text


def test_database_pool_settings_reach_the_engine(tmp_path: Any) -> None:
    settings = load_settings(strict("development", DB_POOL_SIZE="20", DB_MAX_OVERFLOW="0", DB_POOL_RECYCLE="1800",
                                    DB_POOL_TIMEOUT="10", DB_ECHO="true"), instance_dir=tmp_path)
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 0,
                                                     "pool_recycle": 1800, "pool_timeout": 10}
    assert settings["SQLALCHEMY_ECHO"] is True
    defaults = load_settings(strict("development"), instance_dir=tmp_path)
    assert defaults["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 5 and defaults["SQLALCHEMY_ECHO"] is False
    sqlite = load_settings({"DB_POOL_SIZE": "20"}, instance_dir=tmp_path)
    assert sqlite["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}
    with pytest.raises(ConfigError, match="DB_POOL_SIZE must be a whole number"):
        load_settings({"DB_POOL_SIZE": "many"}, instance_dir=tmp_path)
    with pytest.raises(ConfigError, match="DB_ECHO"):
        load_settings(strict("production", DB_ECHO="true"), instance_dir=tmp_path)


def test_engine_is_built_with_the_pool_settings() -> None:
    from tests.conftest import TEST_DATABASE_URL, make_test_app
    from webapp.extensions import db

    app = make_test_app(SQLALCHEMY_DATABASE_URI=TEST_DATABASE_URL,
                        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 7, "max_overflow": 2, "pool_timeout": 9})
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (7, 2, 9)  # type: ignore[attr-defined]
        db.engine.dispose()


def test_cors_settings(tmp_path: Any) -> None:
    from tests.conftest import make_test_app

    app = make_test_app(CORS_ORIGINS=["https://releases.example.test"], CORS_ALLOW_CREDENTIALS=True,
                        CORS_ALLOW_METHODS=["GET", "PUT"], CORS_ALLOW_HEADERS=["Authorization", "X-Team"])
    client = app.test_client()
    preflight = client.options("/compat/release-manager/api/v1/users/1", headers={
        "Origin": "https://releases.example.test", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "X-Team"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://releases.example.test"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert set(preflight.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "PUT"}
    assert preflight.headers["Access-Control-Allow-Headers"].lower() == "x-team"
    other = client.options("/api/v1/me", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in other.headers
    with pytest.raises(ConfigError, match="CORS_ALLOW_CREDENTIALS"):
        load_settings({"CORS_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"}, instance_dir=tmp_path)
    parsed = load_settings({"CORS_ALLOW_METHODS": "GET,POST"}, instance_dir=tmp_path)
    assert parsed["CORS_ALLOW_METHODS"] == ["GET", "POST"] and parsed["CORS_ALLOW_CREDENTIALS"] is False


def test_ecs_pool_defaults_are_read(tmp_path: Any) -> None:
    settings = load_settings({"ECS_CLUSTER": "runners", "ECS_TASK_DEFINITION": "blazeci-runner:3",
                              "ECS_SUBNETS": "subnet-a, subnet-b", "ECS_SECURITY_GROUPS": "sg-1",
                              "ECS_LAUNCH_TYPE": "ec2"}, instance_dir=tmp_path)
    assert (settings["ECS_CLUSTER"], settings["ECS_TASK_DEFINITION"]) == ("runners", "blazeci-runner:3")
    assert settings["ECS_SUBNETS"] == ["subnet-a", "subnet-b"] and settings["ECS_SECURITY_GROUPS"] == ["sg-1"]
    assert settings["ECS_LAUNCH_TYPE"] == "EC2"
    with pytest.raises(ConfigError, match="ECS_LAUNCH_TYPE"):
        load_settings({"ECS_LAUNCH_TYPE": "lambda"}, instance_dir=tmp_path)
