"""Lean provider clients: drop-in LangChain chat models with a cheaper streaming path.

Opt-in: import :class:`ChatOpenAI` from here instead of ``langchain_openai``. It behaves
the same (it is a subclass); only its chat-completions streaming reads the provider's SSE
itself instead of through the ``openai`` SDK's pydantic chunk models.
"""

from tokenwire.models.chat_openai import ChatOpenAI
from tokenwire.models.sse import ChunkDecoder

__all__ = ["ChatOpenAI", "ChunkDecoder"]
