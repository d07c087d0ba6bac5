"""LangChain's standard chat-model tests for ``tokenwire.models.ChatOpenAI`` on the mock.

``langchain-tests`` (the dev extra) runs the same suite every LangChain integration runs.
The integration half talks to the mock provider over loopback; the features the mock does
not have are switched off through the suite's own flags (see ``MOCK_LACKS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from tokenwire.models import ChatOpenAI
from tokenwire.server.background import BackgroundServer

#: What the mock provider cannot do, so the suite skips its tests of it (through the flags
#: below): it ignores ``response_format`` (JSON mode; structured output is tested by
#: function calling instead), reads no image, PDF or audio parts, and knows no Anthropic
#: content blocks. VCR cassettes are off: the provider is live.
MOCK_LACKS = ("json_mode", "image inputs", "pdf inputs", "audio inputs", "anthropic inputs")

_MOCK: dict[str, str] = {}
_NO_POOL = httpx2.Limits(max_keepalive_connections=0)


@pytest.fixture
def _mock_provider(mock_server: BackgroundServer) -> Iterator[None]:
    # mock_server, not mock_url: that one's ledger reset would meet VCR's fixture
    _MOCK["base_url"] = mock_server.url + "/v1"
    yield


class TestLeanChatOpenAIUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "mock", "api_key": "mock", "base_url": "http://127.0.0.1:9/v1"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"OPENAI_API_KEY": "api_key", "OPENAI_API_BASE": "https://base.example/v1"},
            {"model": "mock"},
            {"openai_api_key": "api_key", "openai_api_base": "https://base.example/v1"},
        )


@pytest.mark.usefixtures("_mock_provider")
class TestLeanChatOpenAIIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "mock",
            "api_key": "mock",
            "base_url": _MOCK["base_url"],
            "stream_usage": True,
            "max_retries": 0,
            # A client per model that keeps no idle connection: the default one is cached
            # across the tests' event loops, and a pooled connection of a closed loop is
            # collected later, in some other test, as an unclosed transport.
            "http_async_client": openai.DefaultAsyncHttpxClient(limits=_NO_POOL),
        }

    @property
    def model_override_value(self) -> str:
        return "mock-override"  # any mock-* name is served and echoed as the model name

    @property
    def enable_vcr_tests(self) -> bool:
        return False  # the provider is a live loopback mock: nothing to record or replay

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "function_calling"}

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False
