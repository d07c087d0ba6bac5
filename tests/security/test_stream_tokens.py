"""Stream tokens on their own: what they admit, and every way they refuse — on a scripted
clock, so expiry needs no sleeping."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tokenwire.config import Settings
from tokenwire.errors import ConfigError
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.security.principal import Principal, Role
from tokenwire.security.stream_tokens import (
    InvalidStreamToken,
    StreamTokens,
    StreamTokensUnavailable,
)

SECRET = b"a-stream-token-secret-of-32-bytes!!"
ALICE = ApiKey.from_config({"alias": "alice", "key": "sk-alice"})
MOD = ApiKey.from_config({"alias": "mod", "key": "sk-mod", "roles": ["moderator"]})


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tokens(
    *keys: ApiKey, clock: Clock | None = None, secret: bytes = SECRET, ttl: float = 300
) -> StreamTokens:
    credentials = Credentials(keys=list(keys or (ALICE, MOD)))
    return StreamTokens(secret, credentials, ttl_seconds=ttl, clock=clock or Clock())


def alice() -> Principal:
    return Principal("alice", frozenset({Role.CLIENT}))


def test_a_token_reads_its_run_as_the_key_it_was_issued_to() -> None:
    clock = Clock()
    issued = tokens(clock=clock).issue("run-1", alice())
    assert issued.expires_at == int(clock.now) + 300
    assert issued.expires_at_iso == "2027-01-15T08:05:00Z"
    principal = tokens(clock=clock).verify(issued.token, "run-1")  # another instance: same secret
    assert principal == Principal("alice", ALICE.roles, None)


def test_a_token_is_for_its_run_only() -> None:
    issued = tokens().issue("run-1", alice())
    with pytest.raises(InvalidStreamToken, match="for another run"):
        tokens().verify(issued.token, "run-2")


def test_a_token_expires_after_its_ttl() -> None:
    clock = Clock()
    issued = tokens(clock=clock, ttl=60).issue("run-1", alice())
    clock.now += 59.9
    tokens(clock=clock).verify(issued.token, "run-1")
    clock.now += 0.2
    with pytest.raises(InvalidStreamToken, match=r"expired at .*POST /v1/runs/run-1/stream-token"):
        tokens(clock=clock).verify(issued.token, "run-1")


@pytest.mark.parametrize("part", [1, 2])
def test_an_altered_token_is_refused(part: int) -> None:
    issued = tokens().issue("run-1", alice())
    parts = issued.token.split(".")
    # Another valid payload (a later expiry) or another signature: neither verifies.
    other = tokens(clock=Clock(2_000_000_000)).issue("run-1", alice()).token.split(".")
    parts[part] = other[part]
    with pytest.raises(InvalidStreamToken, match="signature does not match"):
        tokens().verify(".".join(parts), "run-1")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    issued = tokens(secret=b"x" * 32).issue("run-1", alice())
    with pytest.raises(InvalidStreamToken, match="signature does not match"):
        tokens().verify(issued.token, "run-1")


@pytest.mark.parametrize(
    "token", ["", "tw1", "tw1.a.b.c", "tw2.e30.AA", "tw1.!!!.AA", "tw1.e30.AA", "tw1.bnVsbA.AA"]
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidStreamToken, match="malformed stream token"):
        tokens().verify(token, "run-1")


def test_a_token_dies_with_its_key() -> None:
    issued = tokens().issue("run-1", alice())
    with pytest.raises(InvalidStreamToken, match="API key this stream token was issued to is gone"):
        tokens(MOD).verify(issued.token, "run-1")
    rotated = ApiKey.from_config({"alias": "alice", "key": "sk-alice-rotated"})
    with pytest.raises(InvalidStreamToken, match="its API key changed"):
        tokens(rotated, MOD).verify(issued.token, "run-1")


def test_a_key_reads_with_the_roles_it_has_now() -> None:
    issued = tokens().issue("run-1", Principal("mod", MOD.roles))
    demoted = ApiKey("mod", MOD.key_sha256)  # same secret, client role only
    assert tokens(ALICE, demoted).verify(issued.token, "run-1").roles == {Role.CLIENT}


def test_a_jwt_subject_keeps_its_roles_and_department() -> None:
    subject = Principal.of_token("sam", frozenset({Role.MODERATOR}), "sales")
    issued = tokens().issue("run-1", subject)
    assert tokens().verify(issued.token, "run-1") == subject


def test_without_a_secret_replicas_cannot_issue_tokens() -> None:
    settings = Settings(redis_url=SecretStr("redis://127.0.0.1:6379/0"))
    shared = StreamTokens.from_settings(settings, Credentials(keys=[ALICE]))
    with pytest.raises(StreamTokensUnavailable, match="stream_token_secret"):
        shared.issue("run-1", alice())
    with pytest.raises(InvalidStreamToken, match="not accepted here"):
        shared.verify(tokens().issue("run-1", alice()).token, "run-1")


def test_a_single_process_signs_with_a_key_of_its_own() -> None:
    one = StreamTokens.from_settings(Settings(), Credentials(keys=[ALICE]))
    other = StreamTokens.from_settings(Settings(), Credentials(keys=[ALICE]))
    issued = one.issue("run-1", alice())
    assert one.verify(issued.token, "run-1").alias == "alice"
    with pytest.raises(InvalidStreamToken):
        other.verify(issued.token, "run-1")


def test_the_configured_secret_is_shared() -> None:
    settings = Settings(stream_token_secret=SecretStr(SECRET.decode()), stream_token_ttl_seconds=9)
    issued = StreamTokens.from_settings(settings, Credentials(keys=[ALICE])).issue("r", alice())
    assert tokens(clock=Clock(0)).verify(issued.token, "r").alias == "alice"
    assert "stream_token_secret" not in repr(settings)


def test_a_token_is_never_printed() -> None:
    issued = tokens().issue("run-1", alice())
    assert issued.token not in repr(issued) and "run-1" in repr(issued)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Settings(stream_token_secret=SecretStr("short"))


@pytest.mark.parametrize(
    "origin", ["*", "https://app.example.com/", "app.example.com", "https://a.com/path", "null"]
)
def test_cors_origins_are_exact(origin: str) -> None:
    with pytest.raises(ConfigError, match="exact origin"):
        Settings(cors_origins=(origin,))


def test_cors_origins_accept_hosts_and_ports() -> None:
    origins = ("https://app.example.com", "http://127.0.0.1:5173", "http://[::1]:8080")
    assert Settings(cors_origins=origins).cors_origins == origins
