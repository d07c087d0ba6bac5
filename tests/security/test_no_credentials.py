"""Auth on with nothing to admit anyone by: every refusal says that, not "your key is bad"."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.security.middleware import NO_CREDENTIALS
from tokenwire.testing import serve, test_settings


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer any-key"}])
def test_a_gateway_without_keys_says_why_it_refuses(headers: dict[str, str]) -> None:
    settings = test_settings(auth="required")
    with serve([Route("echo", RunnableLambda(str))], settings) as client:
        native = client.post("/v1/routes/echo/runs", json={"input": "hi"}, headers=headers)
        assert native.status_code == 401
        assert native.json()["detail"] == NO_CREDENTIALS
        assert 'auth = "none"' in NO_CREDENTIALS and "keys" in NO_CREDENTIALS
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        openai = client.post("/v1/chat/completions", json=body, headers=headers)
        assert openai.status_code == 401
        assert openai.json()["error"]["message"] == NO_CREDENTIALS
        assert client.get("/healthz").status_code == 200  # the probes stay public


def test_with_keys_a_wrong_key_is_still_an_unknown_key() -> None:
    credentials = Credentials(keys=[ApiKey("web", hash_key("right"))])
    with serve(
        [Route("echo", RunnableLambda(str))], credentials=credentials, auth="required"
    ) as client:
        refused = client.post(
            "/v1/routes/echo/runs", json={"input": "hi"}, headers={"X-API-Key": "wrong"}
        )
        assert refused.status_code == 401
        assert refused.json()["detail"] == "unknown API key"
