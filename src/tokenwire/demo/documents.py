"""A few bundled documents and a keyword retriever over them, for the demo ``rag`` route."""

from __future__ import annotations

import re

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

__all__ = ["DOCUMENTS", "KeywordRetriever"]

DOCUMENTS = [
    Document(
        id="resume",
        page_content="A tokenwire run is not a connection. Every event of a run is appended to "
        "its event log with a sequence number, and a client that reconnects with Last-Event-ID "
        "receives exactly the events it missed.",
        metadata={"source": "docs/runs.md", "title": "Resuming a stream"},
    ),
    Document(
        id="cancel",
        page_content="When the last subscriber of a run leaves and the run's on_disconnect "
        "policy is cancel, tokenwire cancels generation after a short grace period so that "
        "nobody pays for tokens that nobody reads.",
        metadata={"source": "docs/runs.md", "title": "Disconnect policy"},
    ),
    Document(
        id="telemetry",
        page_content="tokenwire measures time to first token, inter-token latency, stalls, "
        "token usage and cost for every stream, and exports them to Prometheus and OpenTelemetry.",
        metadata={"source": "docs/telemetry.md", "title": "Telemetry"},
    ),
    Document(
        id="guardrails",
        page_content="Guardrails see the token stream through a hold-back window, so personal "
        "data split across chunks is redacted before any client sees it.",
        metadata={"source": "docs/governance.md", "title": "Guardrails"},
    ),
    Document(
        id="protocols",
        page_content="The same run can be read over native SSE, WebSocket, the OpenAI chat "
        "completions format, LangServe's protocol and the Vercel AI SDK UI message stream.",
        metadata={"source": "docs/protocols.md", "title": "Protocols"},
    ),
]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {"a", "an", "and", "are", "at", "be", "by", "can", "do", "does", "for", "how", "i", "in"}
    | {"is", "it", "of", "on", "or", "the", "to", "what", "with", "work", "works"}
)


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class KeywordRetriever(BaseRetriever):
    """Ranks documents by shared words with the query; deterministic and offline."""

    documents: list[Document] = DOCUMENTS
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        wanted = _terms(query)
        scored = [(len(wanted & _terms(d.page_content)), i) for i, d in enumerate(self.documents)]
        ranked = sorted(scored, key=lambda s: (-s[0], s[1]))
        return [self.documents[i] for score, i in ranked[: self.k] if score > 0]
