"""A LangSmith endpoint on 127.0.0.1 that keeps what the real ``langsmith`` client sends.

The client asks ``/info`` first; told so, it sends its runs as zstd-compressed
``multipart/form-data`` batches to ``/runs/multipart`` — one part per field group of an
operation, named ``post.<id>``, ``post.<id>.outputs``, ``patch.<id>.events``, … — else JSON
batches to ``/runs/batch``. :class:`LangSmithEndpoint` decodes both into operations, and
:meth:`LangSmithEndpoint.runs` merges each run's ``post`` and ``patch`` into one dict.
Feedback comes as ``feedback.<id>`` parts of the same batches (or ``POST /feedback``), kept
in :attr:`LangSmithEndpoint.feedback`; the project a feedback names is looked up by name
(``GET /sessions?name=``), answered with :data:`PROJECT_ID`.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import langsmith.run_trees
import langsmith.utils
import orjson
import pytest
import zstandard
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.server.background import BackgroundServer
from tokenwire.testing import poll_until

__all__ = ["LANGSMITH_INFO", "PROJECT_ID", "LangSmithEndpoint", "langsmith_endpoint"]

#: The id of every project the endpoint is asked for.
PROJECT_ID = "5a7c1e0e-0000-4000-8000-00000000beef"

#: What the client asks for first: zstd-compressed multipart batches, please.
LANGSMITH_INFO = {
    "version": "0.10.0",
    "instance_flags": {"zstd_compression_enabled": True},
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "size_limit": 100,
        "size_limit_bytes": 20_971_520,
        "scale_up_qsize_trigger": 1000,
        "scale_up_nthreads_limit": 16,
        "scale_down_nempty_trigger": 4,
    },
}


@dataclass
class LangSmithEndpoint:
    #: Every request body, decompressed, as received (for "is this anywhere" checks).
    bodies: list[bytes] = field(default_factory=list)
    #: (``post`` or ``patch``, the run's fields) in the order received.
    operations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Every feedback received, as sent.
    feedback: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PATCH", "PUT"]
        return Starlette(routes=[Route("/{path:path}", self._receive, methods=methods)])

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run sent so far by id, its ``patch`` fields over its ``post``'s."""
        merged: dict[str, dict[str, Any]] = {}
        for operation in ("post", "patch"):
            for op, fields in self.operations:
                if op == operation:
                    merged.setdefault(str(fields["id"]), {}).update(fields)
        return merged

    def wait_for_run(self, run_id: str, *, ended: bool = True) -> dict[str, Any]:
        """The run ``run_id`` (a LangSmith UUID string), once it arrived (with its end)."""

        def probe() -> dict[str, Any] | None:
            run = self.runs().get(run_id)
            return run if run is not None and (not ended or run.get("end_time")) else None

        return poll_until(probe, timeout=20, message=f"LangSmith never got run {run_id}")

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        self.bodies.append(body)
        path = request.url.path
        if path.endswith("/info"):
            return JSONResponse(LANGSMITH_INFO)
        if path.endswith("/sessions") and request.method == "GET":
            name = request.query_params.get("name", "")
            return JSONResponse([_project(name)])
        if path.endswith("/feedback") and request.method == "POST":
            self.feedback.append(orjson.loads(body))
        elif path.endswith("/runs/multipart"):
            operations, feedback = _multipart(request.headers["content-type"], body)
            self.operations += operations
            self.feedback += feedback
        elif path.endswith("/runs/batch"):
            batch = orjson.loads(body)
            self.operations += [(op, run) for op in ("post", "patch") for run in batch.get(op, [])]
        elif path.endswith("/runs") and request.method == "POST":
            self.operations.append(("post", orjson.loads(body)))
        return JSONResponse({})


def _project(name: str) -> dict[str, Any]:
    """A project as ``GET /sessions`` lists it (the fields the client requires)."""
    return {
        "id": PROJECT_ID,
        "name": name,
        "tenant_id": PROJECT_ID,
        "start_time": "2026-01-01T00:00:00",
        "reference_dataset_id": None,
    }


_Batch = tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]


def _multipart(content_type: str, body: bytes) -> _Batch:
    """``post.<id>`` parts hold a run's main fields, ``post.<id>.<key>`` one field each;
    ``feedback.<id>`` parts a whole feedback."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    feedback: list[dict[str, Any]] = []
    for part in cast(Any, message).iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        operation, run_id, *key = name.split(".")
        if operation == "feedback":
            feedback.append(orjson.loads(part.get_payload(decode=True)))
            continue
        if operation not in ("post", "patch"):
            continue  # attachments
        value = orjson.loads(part.get_payload(decode=True))
        fields = runs.setdefault((operation, run_id), {"id": run_id})
        if key:
            fields[key[0]] = value
        else:
            fields.update(value)
    return [(operation, fields) for (operation, _), fields in runs.items()], feedback


def _forget_langsmith_env() -> None:
    """langsmith caches what it read of the environment (an lru_cache under overloads)."""
    cast(Any, langsmith.utils.get_env_var).cache_clear()


@contextmanager
def langsmith_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[LangSmithEndpoint]:
    """LangSmith tracing on (``LANGSMITH_*``), to a capturing endpoint on 127.0.0.1."""
    endpoint = LangSmithEndpoint()
    with BackgroundServer(endpoint.app()) as server:
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        monkeypatch.setenv("LANGSMITH_ENDPOINT", server.url)
        monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-test-key")
        monkeypatch.setenv("LANGSMITH_PROJECT", "tokenwire-test")
        # The process-wide client, made for an earlier test's endpoint: made anew here.
        monkeypatch.setattr(langsmith.run_trees, "_CLIENT", None)
        _forget_langsmith_env()
        try:
            yield endpoint
        finally:
            monkeypatch.undo()
            _forget_langsmith_env()
