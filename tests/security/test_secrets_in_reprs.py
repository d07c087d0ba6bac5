"""Secrets never show in a ``repr`` or ``str`` of the credentials, so logging them (or a
traceback's locals) leaks nothing; the settings' own: tests/config/test_secrets.py."""

from __future__ import annotations

from tokenwire.security.credentials import ApiKey, Credentials, hash_key


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
