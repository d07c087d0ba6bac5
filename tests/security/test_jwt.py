"""Which JWTs are accepted: the configured issuer and audience, an expiry (with the configured
leeway), and claims of the right shape — a malformed claim is a 401 that says which, never
a 500."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.conftest import JWT_SECRET, StartGateway, token
from tokenwire.security.credentials import Credentials, InvalidCredentials
from tokenwire.server.config import load_config

ISSUER, AUDIENCE = "https://idp.example", "tokenwire"


def _status(url: str, jwt: str) -> httpx.Response:
    # A native path: its refusals are problem+json (the OpenAI API answers in its own shape).
    return httpx.get(f"{url}/v1/routes", headers={"Authorization": f"Bearer {jwt}"})


def test_issuer_and_audience_are_checked_when_configured(start_gateway: StartGateway) -> None:
    credentials = Credentials(jwt_secret=JWT_SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    url = start_gateway(credentials=credentials)
    assert _status(url, token(iss=ISSUER, aud=AUDIENCE)).status_code == 200
    assert _status(url, token(iss=ISSUER, aud=[AUDIENCE, "other"])).status_code == 200
    for claims in (
        {"iss": "https://evil.example", "aud": AUDIENCE},
        {"aud": AUDIENCE},  # no issuer
        {"iss": ISSUER, "aud": "someone-else"},
        {"iss": ISSUER},  # no audience
    ):
        refused = _status(url, token(**claims))
        assert refused.status_code == 401, claims
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"].startswith("invalid token"), refused.json()


def test_without_an_issuer_configured_any_issuer_is_accepted(start_gateway: StartGateway) -> None:
    url = start_gateway(credentials=Credentials(jwt_secret=JWT_SECRET))
    assert _status(url, token(iss="https://anyone.example")).status_code == 200


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"roles": None}, "roles"),
        ({"roles": "admin"}, "roles"),
        ({"roles": 3}, "roles"),
        ({"roles": True}, "roles"),
        ({"roles": {"admin": True}}, "roles"),
        ({"roles": ["client", 2]}, "roles"),
        ({"roles": [["admin"]]}, "roles"),
        ({"sub": ""}, "sub"),
        ({"sub": 42}, "sub"),
        ({"sub": None}, "sub"),
        ({"exp": "tomorrow"}, "exp"),
    ],
)
def test_malformed_claims_are_401_with_a_readable_problem(
    start_gateway: StartGateway, claims: dict[str, Any], why: str
) -> None:
    url = start_gateway(credentials=Credentials(jwt_secret=JWT_SECRET))
    sub = claims.pop("sub", "carol")
    refused = _status(url, token(sub, **claims))
    assert refused.status_code == 401, refused.text
    problem = refused.json()
    assert problem["title"] == "Unauthorized"
    assert problem["detail"].startswith("invalid token"), problem
    assert why in problem["detail"].lower(), problem


def test_unknown_roles_of_other_systems_are_ignored() -> None:
    credentials = Credentials(jwt_secret=JWT_SECRET)
    principal = credentials.authenticate(token(roles=["billing-viewer", "auditor"]))
    assert {role.value for role in principal.roles} == {"auditor"}
    assert {r.value for r in credentials.authenticate(token(roles=[])).roles} == {"client"}


def test_expiry_is_required_and_honoured_with_the_configured_leeway() -> None:
    strict = Credentials(jwt_secret=JWT_SECRET)
    lenient = Credentials(jwt_secret=JWT_SECRET, jwt_leeway_seconds=30)
    just_expired = token(exp=time.time() - 5)
    with pytest.raises(InvalidCredentials, match="expired"):
        strict.authenticate(just_expired)
    assert lenient.authenticate(just_expired).alias == "jwt:alice"
    with pytest.raises(InvalidCredentials, match="expired"):
        lenient.authenticate(token(exp=time.time() - 120))
    import jwt

    no_expiry = jwt.encode({"sub": "alice"}, JWT_SECRET, algorithm="HS256")
    with pytest.raises(InvalidCredentials, match="exp"):
        lenient.authenticate(no_expiry)


def test_issuer_audience_and_leeway_come_from_the_auth_table_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tokenwire.toml"
    config.write_text(
        f'[auth]\njwt_secret = "{JWT_SECRET}"\njwt_issuer = "{ISSUER}"\n'
        f'jwt_audience = "{AUDIENCE}"\njwt_leeway_seconds = 10\n'
    )
    credentials = load_config(config).credentials
    assert (credentials.jwt_issuer, credentials.jwt_audience) == (ISSUER, AUDIENCE)
    assert credentials.jwt_leeway_seconds == 10
    config.write_text(f'[auth]\njwt_secret = "{JWT_SECRET}"\n')
    monkeypatch.setenv("TOKENWIRE_JWT_ISSUER", "https://env.example")
    monkeypatch.setenv("TOKENWIRE_JWT_AUDIENCE", "from-env")
    monkeypatch.setenv("TOKENWIRE_JWT_LEEWAY_SECONDS", "5")
    credentials = load_config(config).credentials
    assert (credentials.jwt_issuer, credentials.jwt_audience) == ("https://env.example", "from-env")
    assert credentials.jwt_leeway_seconds == 5
    with pytest.raises(InvalidCredentials, match="issuer"):
        credentials.authenticate(token(iss=ISSUER, aud="from-env"))
