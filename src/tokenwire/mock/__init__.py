"""An OpenAI-compatible mock LLM provider with latency profiles and fault injection.

Every demo, test and benchmark reaches a "model" through the real ``ChatOpenAI`` code path
by pointing it at this server::

    with BackgroundServer(create_mock_app()) as server:
        model = ChatOpenAI(base_url=server.url + "/v1", api_key="mock", model="mock@itl=20")

Replies are deterministic (:func:`reply_text`); behaviour per request is selected by the
model name and ``x-mock-*`` headers (:class:`MockProfile`); what happened is in
``app.state.ledger`` (:class:`MockLedger`) and at ``GET /mock/requests``. The whole
syntax as users read it is :data:`tokenwire.mock.syntax.MODEL_SYNTAX` (``tokenwire
mock-provider --help``, docs/mock.md).
"""

from tokenwire.mock.app import create_mock_app, run_mock_provider
from tokenwire.mock.ledger import MockLedger, Outcome, RequestRecord
from tokenwire.mock.profile import Fault, MockProfile, ProfileError
from tokenwire.mock.script import prompt_tokens, reply_text, reply_tokens

__all__ = [
    "Fault",
    "MockLedger",
    "MockProfile",
    "Outcome",
    "ProfileError",
    "RequestRecord",
    "create_mock_app",
    "prompt_tokens",
    "reply_text",
    "reply_tokens",
    "run_mock_provider",
]
