"""Secrets never show in a ``repr`` or ``str`` — of the credentials or of the settings —
so logging either (or a traceback's locals) leaks nothing."""

from __future__ import annotations

from tokenwire.config import Settings
from tokenwire.security.credentials import ApiKey, Credentials, hash_key

SECRETS = ("sk-live-key", "hs256-secret-value", "redis-password", "pg-password", "otlp-token")


def _printed(value: object) -> str:
    return repr(value) + str(value) + repr([value]) + f"{value!r}"


def test_credentials_hide_the_jwt_secret_and_the_key_hashes() -> None:
    credentials = Credentials(
        keys=[ApiKey("web", hash_key("sk-live-key"))], jwt_secret="hs256-secret-value"
    )
    printed = _printed(credentials)
    for secret in ("sk-live-key", hash_key("sk-live-key"), "hs256-secret-value"):
        assert secret not in printed
    assert "web" in printed  # what is configured stays visible
    assert "jwt_secret=<set>" in printed


def test_settings_hide_the_passwords_in_their_urls() -> None:
    settings = Settings(
        redis_url="redis://:redis-password@127.0.0.1:6379/0",
        audit_url="postgresql+asyncpg://tokenwire:pg-password@db.internal/audit",
        otlp_endpoint="https://collector:otlp-token@otel.example:4318",
    )
    printed = _printed(settings)
    for secret in SECRETS:
        assert secret not in printed
    assert "db.internal/audit" in printed and "127.0.0.1:6379/0" in printed
    assert "heartbeat_seconds=10.0" in printed  # the rest reads as before
    assert settings.redis_url.get_secret_value().endswith("@127.0.0.1:6379/0")  # the value itself is intact
    in_the_query = Settings(redis_url="rediss://127.0.0.1:6379/0?db=0&password=redis-password")
    assert "redis-password" not in _printed(in_the_query)
    assert "?db=0&password=***" in repr(in_the_query)
